"""llama.cpp (llama-cpp-python) as loratune's demo and reference tests load it."""


def llama_cpp_model(gguf, lora=None, **kwargs):
    """llama_cpp.Llama(model_path=gguf, lora_path=lora, **kwargs) on the CPU kernels, without llama.cpp's extra
    weight buffer types (use_extra_bufts=False: no AMX / CPU_REPACK repacking). llama-cpp-python 0.3.36 built for
    an AMX-capable CPU (scripts/setup-reference.sh builds it with llama.cpp's default GGML_NATIVE) segfaults in
    decode on every AMX-repacked quantized model seen here (SmolLM2's Q4_1 file as much as loratune's q8_0
    exports); f32 / f16 / bf16 weights never go to those buffers, so this changes nothing for them.
    llama-cpp-python has no argument for it: its default-params factory is wrapped for the duration of the load."""
    import llama_cpp

    default_params = llama_cpp.llama_cpp.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = False
        return p

    llama_cpp.llama_cpp.llama_model_default_params = params
    try:
        return llama_cpp.Llama(model_path=gguf, lora_path=lora, **kwargs)
    finally:
        llama_cpp.llama_cpp.llama_model_default_params = default_params
