// The SentencePiece backend, reached through a small plugin (libloratune_spm.so) that is loaded with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND).
//
// Why: Debian's libsentencepiece exports its own bundled copy of protobuf-lite, while LibTorch links the
// system libprotobuf (through onnx). Linked into one executable, libprotobuf's start-up code binds to
// SentencePiece's copies of the same symbols and crashes before main(). Loading SentencePiece privately,
// with its own symbols first, keeps the two protobufs apart. (Executables are built with -fPIC and
// -z nocopyreloc so that DEEPBIND sees the same libstdc++ globals as the executable.)
//
// The interface is plain C++ with virtual calls only: no symbol of the plugin is resolved except the
// one entry point.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

namespace loratune::spm {

constexpr int kApiVersion = 1;

class Processor {
 public:
  virtual ~Processor() = default;
  virtual int piece_size() const = 0;
  virtual int piece_to_id(const std::string& piece) const = 0;
  virtual std::string id_to_piece(int id) const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
  virtual int pad_id() const = 0;
  virtual int unk_id() const = 0;
  // false + *error on failure
  virtual bool encode(const std::string& text, std::vector<int>* ids, std::string* error) const = 0;
  virtual bool decode(const std::vector<int>& ids, std::string* text, std::string* error) const = 0;
};

struct TrainOutcome {
  bool ok = false;
  std::string message;       // SentencePiece's status message when !ok
  std::string corpus_error;  // a corpus file that could not be opened
  size_t text_lines = 0;     // non-empty lines read
  std::string model;         // serialized model proto when ok
};

struct Api {
  int version;
  // nullptr + *error when the bytes are not a loadable model. The caller owns the result.
  Processor* (*load)(const std::string& model_bytes, std::string* error);
  // Trains from UTF-8 text files, one sentence per line.
  void (*train)(const std::unordered_map<std::string, std::string>& args, const std::vector<std::string>& files,
                unsigned int seed, TrainOutcome* out);
};

// Loads the plugin on first use; throws loratune::Error (runtime) naming the path when it cannot.
const Api& api();

}  // namespace loratune::spm

extern "C" const loratune::spm::Api* loratune_spm_api();
