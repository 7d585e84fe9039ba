// GGUF v3 (ggml-org/ggml docs/gguf.md): the file format llama.cpp, ollama and friends load. A writer for
// full models and LoRA adapters, a validating reader (used to verify exports and in tests), and the
// element encodings export needs (F32, F16, BF16, Q8_0). Torch-free.
//
// Layout: "GGUF", u32 version, u64 tensor_count, u64 kv_count, the key/value pairs (key string, u32 value
// type, value), the tensor infos (name, u32 n_dims, u64 ne[n_dims] with ne[0] the fastest-varying
// dimension, u32 ggml type, u64 offset relative to the data section), padding to general.alignment
// (default 32), then the data section: each tensor's bytes at its offset, padded to the alignment.
// Strings are u64 length + bytes (no NUL). Everything is little-endian.
//
// The pieces, one header each: gguf_value.h (metadata value types, GgufValue, format limits),
// gguf_codec.h (ggml element types and encodings), gguf_reader.h (GgufFile), gguf_writer.h (GgufWriter).
#pragma once

#include "io/gguf_codec.h"
#include "io/gguf_reader.h"
#include "io/gguf_value.h"
#include "io/gguf_writer.h"
