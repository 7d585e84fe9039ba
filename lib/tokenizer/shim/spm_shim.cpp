// libloratune_spm.so: the only translation unit that includes SentencePiece headers. See spm_backend.h.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <memory>

#include "tokenizer/spm_backend.h"

namespace loratune::spm {
namespace {

class SpProcessor : public Processor {
 public:
  sentencepiece::SentencePieceProcessor sp;
  int piece_size() const override { return sp.GetPieceSize(); }
  int piece_to_id(const std::string& piece) const override { return sp.PieceToId(piece); }
  std::string id_to_piece(int id) const override { return sp.IdToPiece(id); }
  int bos_id() const override { return sp.bos_id(); }
  int eos_id() const override { return sp.eos_id(); }
  int pad_id() const override { return sp.pad_id(); }
  int unk_id() const override { return sp.unk_id(); }
  bool encode(const std::string& text, std::vector<int>* ids, std::string* error) const override {
    auto st = sp.Encode(text, ids);
    if (!st.ok()) *error = st.ToString();
    return st.ok();
  }
  bool decode(const std::vector<int>& ids, std::string* text, std::string* error) const override {
    auto st = sp.Decode(ids, text);
    if (!st.ok()) *error = st.ToString();
    return st.ok();
  }
};

// Streams the corpus files line by line into the trainer (no copy of the whole corpus in memory).
class CorpusIterator : public sentencepiece::SentenceIterator {
 public:
  explicit CorpusIterator(const std::vector<std::string>& files) : files_(files) { advance(); }
  bool done() const override { return done_; }
  void Next() override { advance(); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return status_; }
  size_t text_lines() const { return text_lines_; }

 private:
  void advance() {
    while (!done_) {
      if (in_.is_open() && std::getline(in_, line_)) {
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        text_lines_ += !line_.empty();
        return;
      }
      if (!open_next()) done_ = true;
    }
  }

  bool open_next() {
    in_.close();
    if (next_ >= files_.size()) return false;
    const std::string& path = files_[next_++];
    in_.open(path, std::ios::binary);
    if (in_) return true;
    status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound,
                                          path + ": cannot open corpus file");
    return false;
  }

  const std::vector<std::string>& files_;
  size_t next_ = 0;
  std::ifstream in_;
  std::string line_;
  size_t text_lines_ = 0;
  bool done_ = false;
  sentencepiece::util::Status status_;
};

Processor* load(const std::string& bytes, std::string* error) {
  auto p = std::make_unique<SpProcessor>();
  auto st = p->sp.LoadFromSerializedProto(bytes);
  if (!st.ok()) {
    *error = st.ToString();
    return nullptr;
  }
  return p.release();
}

void train(const std::unordered_map<std::string, std::string>& args, const std::vector<std::string>& files,
           unsigned int seed, TrainOutcome* out) {
  sentencepiece::SetRandomGeneratorSeed(seed);
  CorpusIterator corpus(files);
  auto st = sentencepiece::SentencePieceTrainer::Train(args, &corpus, &out->model);
  out->text_lines = corpus.text_lines();
  if (!corpus.status().ok()) out->corpus_error = corpus.status().message();
  out->ok = st.ok();
  if (!st.ok()) out->message = st.message();
}

const Api kApi{kApiVersion, &load, &train};
}  // namespace
}  // namespace loratune::spm

extern "C" __attribute__((visibility("default"))) const loratune::spm::Api* loratune_spm_api() {
  return &loratune::spm::kApi;
}
