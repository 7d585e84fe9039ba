// Tokenizer tests: small tokenizers are trained on tests/fixtures/text/corpus.txt into temp dirs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "core/error.h"
#include "core/fs.h"
#include "core/sha256.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace loratune;

namespace {

const std::string kCorpus = std::string(LORATUNE_FIXTURES_DIR) + "/text/corpus.txt";
constexpr int kVocab = 400;

using lt_test::TempDir;
using lt_test::write_file;

// Exact lookup, no unk substitution.
bool has_piece(const Tokenizer& tok, const std::string& piece) {
  const int id = tok.piece_to_id(piece);
  return id >= 0 && id < tok.vocab_size() && tok.piece(id) == piece;
}

bool is_eos(const Tokenizer& tok, int id) {
  const auto& ids = tok.special().eos_ids;
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::string train(const std::string& out, int vocab = kVocab, const std::string& type = "bpe",
                  const std::string& corpus = kCorpus, int threads = 1) {
  TokenizerTrainOptions opts;
  opts.corpus_files = {corpus};
  opts.vocab_size = vocab;
  opts.model_type = type;
  opts.num_threads = threads;
  train_tokenizer(opts, out);
  return out;
}

// One tokenizer trained once and shared by the tests that only read it.
const Tokenizer& trained() {
  static TempDir dir;
  static Tokenizer tok = Tokenizer::from_file(train(dir.file("tokenizer.model")));
  return tok;
}

// A model directory holding the shared tokenizer.model.
std::string model_dir(const TempDir& dir) {
  write_file(dir.file("tokenizer.model"), trained().serialized_model());
  return dir.path();
}

template <class F>
Error input_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ExitCode::Usage);
    CHECK_FALSE(e.hint().empty());
    return e;
  }
  FAIL("expected loratune::Error");
  return Error(ExitCode::Ok, "");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string concat_pieces(const Tokenizer& tok, const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) out += tok.decode_piece(id);
  return out;
}

}  // namespace

TEST_CASE("trained tokenizer follows the Llama conventions", "[tokenizer]") {
  const Tokenizer& tok = trained();
  const SpecialTokens& s = tok.special();

  SECTION("special ids and flags") {
    CHECK(s.unk == 0);
    CHECK(s.bos == 1);
    CHECK(s.eos == 2);
    CHECK(s.pad == -1);
    CHECK(s.eos_ids == std::vector<int>{2});
    CHECK(s.add_bos);
    CHECK_FALSE(s.add_eos);
    CHECK(tok.chat_template().empty());
    CHECK(is_eos(tok, 2));
    CHECK_FALSE(is_eos(tok, 1));
  }
  SECTION("pieces and types") {
    CHECK(tok.vocab_size() == kVocab);
    CHECK(tok.piece(0) == "<unk>");
    CHECK(tok.piece(1) == "<s>");
    CHECK(tok.piece(2) == "</s>");
    CHECK(tok.type(0) == PieceType::Unknown);
    CHECK(tok.type(1) == PieceType::Control);
    CHECK(tok.type(2) == PieceType::Control);
    CHECK(tok.type(tok.piece_to_id("<0x41>")) == PieceType::Byte);
    const int the = tok.piece_to_id("\xE2\x96\x81the");
    REQUIRE(the > 2);
    CHECK(tok.type(the) == PieceType::Normal);
    CHECK(tok.score(the) < 0.0f);
  }
  SECTION("byte fallback and lookups") {
    CHECK(tok.has_byte_fallback());
    for (int b : {0x00, 0x0A, 0x7F, 0xFF}) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      CHECK(has_piece(tok, name));
    }
    CHECK_FALSE(has_piece(tok, "no such piece"));
    CHECK(tok.piece_to_id("no such piece") == 0);
  }
  SECTION("fingerprint is the sha256 of the model bytes") {
    CHECK(tok.fingerprint().size() == 64);
    CHECK(tok.fingerprint() == sha256_hex(tok.serialized_model()));
    CHECK(tok.fingerprint() == sha256_file_hex(tok.model_path()));
  }
  SECTION("out-of-range ids are input errors") {
    CHECK(contains(input_error([&] { tok.piece(kVocab); }).message(), "outside the vocabulary"));
    input_error([&] { tok.decode({5, -1}); });
    input_error([&] { tok.decode_piece(kVocab + 3); });
  }
}

TEST_CASE("encode and decode round-trip text", "[tokenizer]") {
  const Tokenizer& tok = trained();

  SECTION("ASCII, whitespace and digits") {
    for (const std::string text :
         {"Hello world", "the Licensor shall  not\tbe liable", " leading space", "line one\nline two\n",
          "version 2024, section 7(b)", ""}) {
      const auto ids = tok.encode(text, false);
      CHECK(tok.decode(ids) == text);
      if (!text.empty()) CHECK(concat_pieces(tok, ids) == " " + text);
    }
  }
  SECTION("digits are split") {
    const auto ids = tok.encode("2024 1000", false);
    for (int id : ids) {
      const std::string p = tok.piece(id);
      CHECK(std::count_if(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }) <= 1);
    }
  }
  SECTION("non-ASCII text goes through byte pieces") {
    const std::string text = "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x99\x82";  // café 中文 🙂
    const auto ids = tok.encode(text, false);
    int bytes = 0;
    for (int id : ids) bytes += tok.type(id) == PieceType::Byte;
    CHECK(bytes == 2 + 6 + 4);
    CHECK(tok.decode(ids) == text);
    CHECK(concat_pieces(tok, ids) == " " + text);
    for (int id : ids) CHECK(tok.type(id) != PieceType::Unknown);
  }
}

TEST_CASE("encode adds BOS and EOS on request and decode skips them", "[tokenizer]") {
  const Tokenizer& tok = trained();
  const auto plain = tok.encode("Grant of License", false);

  SECTION("neither") { CHECK(plain.front() != 1); }
  SECTION("BOS only") {
    const auto ids = tok.encode("Grant of License", true);
    REQUIRE(ids.size() == plain.size() + 1);
    CHECK(ids.front() == 1);
    CHECK(std::vector<int>(ids.begin() + 1, ids.end()) == plain);
  }
  SECTION("BOS and EOS") {
    const auto ids = tok.encode("Grant of License", true, true);
    REQUIRE(ids.size() == plain.size() + 2);
    CHECK(ids.front() == 1);
    CHECK(ids.back() == 2);
    CHECK(tok.decode(ids) == "Grant of License");
    CHECK(tok.decode_piece(1).empty());
    CHECK(tok.decode_piece(2).empty());
  }
}

TEST_CASE("training is deterministic and the fingerprint identifies the model", "[tokenizer]") {
  TempDir dir;
  for (const std::string type : {"bpe", "unigram"}) {
    SECTION(type) {
      const auto a = Tokenizer::from_file(train(dir.file("a.model"), kVocab, type));
      const auto b = Tokenizer::from_file(train(dir.file("b.model"), kVocab, type));
      const auto c = Tokenizer::from_file(train(dir.file("c.model"), kVocab + 20, type));
      CHECK(a.serialized_model() == b.serialized_model());
      CHECK(a.fingerprint() == b.fingerprint());
      CHECK(a.fingerprint() != c.fingerprint());
      CHECK(c.vocab_size() == kVocab + 20);
      CHECK(a.has_byte_fallback());
      CHECK_FALSE(path_exists(dir.file("a.model.tmp")));
    }
  }
  SECTION("unigram with two threads") {
    // Unigram EM sums per-thread partial results: the model depends on num_threads, but a fixed
    // thread count gives the same bytes every time.
    const auto a = Tokenizer::from_file(train(dir.file("a.model"), kVocab, "unigram", kCorpus, 2));
    const auto b = Tokenizer::from_file(train(dir.file("b.model"), kVocab, "unigram", kCorpus, 2));
    CHECK(a.fingerprint() == b.fingerprint());
  }
  SECTION("the seed does not change the model") {
    TokenizerTrainOptions opts;
    opts.corpus_files = {kCorpus};
    opts.vocab_size = kVocab;
    opts.seed = 7;
    train_tokenizer(opts, dir.file("s.model"));
    CHECK(Tokenizer::from_file(dir.file("s.model")).fingerprint() == trained().fingerprint());
  }
}

TEST_CASE("piece metadata agrees with SentencePiece's own view", "[tokenizer]") {
  SECTION("every piece of the trained model") {
    const Tokenizer& tok = trained();
    sentencepiece::SentencePieceProcessor sp;
    REQUIRE(sp.LoadFromSerializedProto(tok.serialized_model()).ok());
    REQUIRE(sp.GetPieceSize() == tok.vocab_size());
    for (int id = 0; id < tok.vocab_size(); ++id) {
      CHECK(tok.piece(id) == sp.IdToPiece(id));
      CHECK(tok.score(id) == sp.GetScore(id));
      CHECK((tok.type(id) == PieceType::Unknown) == sp.IsUnknown(id));
      CHECK((tok.type(id) == PieceType::Control) == sp.IsControl(id));
      CHECK((tok.type(id) == PieceType::Byte) == sp.IsByte(id));
      CHECK((tok.type(id) == PieceType::Unused) == sp.IsUnused(id));
    }
    CHECK(tok.decode_piece(0) == " \xE2\x81\x87 ");  // the unknown piece's surface " ⁇ "
  }
  SECTION("user-defined pieces (not visible through the Is*() API)") {
    TempDir dir;
    std::string model;
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        {{"input", kCorpus}, {"vocab_size", "400"}, {"model_type", "bpe"}, {"byte_fallback", "true"},
         {"character_coverage", "1.0"}, {"user_defined_symbols", "<|im_start|>,<|im_end|>"},
         {"minloglevel", "2"}},
        nullptr, &model);
    REQUIRE(status.ok());
    write_file(dir.file("tokenizer.model"), model);
    const auto tok = Tokenizer::from_file(dir.file("tokenizer.model"));
    const int start = tok.piece_to_id("<|im_start|>");
    CHECK(tok.type(start) == PieceType::UserDefined);
    CHECK(tok.type(tok.piece_to_id("<|im_end|>")) == PieceType::UserDefined);
    const auto ids = tok.encode("<|im_start|>user", false);
    CHECK(std::count(ids.begin(), ids.end(), start) == 1);
    CHECK(tok.decode_piece(start) == "<|im_start|>");
  }
}

TEST_CASE("from_model_dir resolves special tokens by precedence", "[tokenizer]") {
  TempDir dir;
  const std::string path = model_dir(dir);

  SECTION("model only: the SentencePiece defaults") {
    const auto tok = Tokenizer::from_model_dir(path);
    CHECK(tok.special().bos == 1);
    CHECK(tok.special().add_bos);
    CHECK(tok.fingerprint() == trained().fingerprint());
    CHECK(tok.model_path() == dir.file("tokenizer.model"));
  }
  SECTION("tokenizer_config < config < generation_config") {
    write_file(dir.file("tokenizer_config.json"),
               R"({"add_bos_token": false, "add_eos_token": true, "eos_token": "</s>",
                   "bos_token": {"__type": "AddedToken", "content": "<s>"}, "pad_token": null,
                   "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"})");
    write_file(dir.file("config.json"), R"({"eos_token_id": [2, 5], "bos_token_id": 1, "pad_token_id": null})");
    write_file(dir.file("generation_config.json"), R"({"pad_token_id": 0})");
    const auto tok = Tokenizer::from_model_dir(path);
    const SpecialTokens& s = tok.special();
    CHECK_FALSE(s.add_bos);
    CHECK(s.add_eos);
    CHECK(s.bos == 1);
    CHECK(s.eos == 2);
    CHECK(s.eos_ids == std::vector<int>{2, 5});
    CHECK(s.pad == 0);
    CHECK(s.unk == 0);
    CHECK(is_eos(tok, 5));
    CHECK(tok.chat_template() == "{% for m in messages %}{{ m.content }}{% endfor %}");
  }
  SECTION("generation_config eos overrides config.json") {
    write_file(dir.file("config.json"), R"({"eos_token_id": [2, 5]})");
    write_file(dir.file("generation_config.json"), R"({"eos_token_id": 7})");
    const auto tok = Tokenizer::from_model_dir(path);
    CHECK(tok.special().eos == 7);
    CHECK(tok.special().eos_ids == std::vector<int>{7});
  }
  SECTION("chat_template.jinja overrides tokenizer_config.json") {
    write_file(dir.file("tokenizer_config.json"), R"({"chat_template": "old"})");
    write_file(dir.file("chat_template.jinja"), "new {{ messages }}");
    CHECK(Tokenizer::from_model_dir(path).chat_template() == "new {{ messages }}");
  }
  SECTION("a list of named templates selects 'default'") {
    write_file(dir.file("tokenizer_config.json"),
               R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
    CHECK(Tokenizer::from_model_dir(path).chat_template() == "D");
  }
}

TEST_CASE("from_model_dir reports bad settings with file and key", "[tokenizer]") {
  TempDir dir;
  const std::string path = model_dir(dir);
  const std::string tc = dir.file("tokenizer_config.json");

  SECTION("token not in the vocabulary") {
    write_file(tc, R"({"pad_token": "<pad>"})");
    const auto e = input_error([&] { Tokenizer::from_model_dir(path); });
    CHECK(contains(e.message(), tc));
    CHECK(contains(e.message(), "pad_token"));
    CHECK(contains(e.message(), "<pad>"));
  }
  SECTION("id outside the vocabulary") {
    write_file(dir.file("config.json"), R"({"eos_token_id": [2, 32000]})");
    const auto e = input_error([&] { Tokenizer::from_model_dir(path); });
    CHECK(contains(e.message(), "config.json"));
    CHECK(contains(e.message(), "eos_token_id"));
    CHECK(contains(e.message(), "32000"));
  }
  SECTION("wrong JSON types") {
    write_file(tc, R"({"add_bos_token": "yes"})");
    CHECK(contains(input_error([&] { Tokenizer::from_model_dir(path); }).message(), "add_bos_token"));
    write_file(tc, R"({"eos_token": 2})");
    CHECK(contains(input_error([&] { Tokenizer::from_model_dir(path); }).message(), "eos_token"));
    remove_tree(tc);
    write_file(dir.file("generation_config.json"), R"({"bos_token_id": "1"})");
    CHECK(contains(input_error([&] { Tokenizer::from_model_dir(path); }).message(), "bos_token_id"));
  }
  SECTION("invalid JSON") {
    write_file(tc, "{ not json");
    const auto e = input_error([&] { Tokenizer::from_model_dir(path); });
    CHECK(contains(e.message(), tc));
    CHECK(contains(e.message(), "invalid JSON"));
  }
}

TEST_CASE("from_model_dir and from_file refuse unusable inputs", "[tokenizer]") {
  TempDir dir;

  SECTION("a tokenizer.json that is not one names the file") {
    write_file(dir.file("tokenizer.json"), "{}");
    const auto e = input_error([&] { Tokenizer::from_model_dir(dir.path()); });
    CHECK(contains(e.message(), dir.file("tokenizer.json")));
    CHECK(contains(e.message(), "model"));
  }
  SECTION("no tokenizer file at all") {
    const auto e = input_error([&] { Tokenizer::from_model_dir(dir.path()); });
    CHECK(contains(e.message(), "no tokenizer.json or tokenizer.model"));
    CHECK(contains(e.message(), dir.path()));
  }
  SECTION("missing directory") {
    const std::string missing = dir.file("nope");
    CHECK(contains(input_error([&] { Tokenizer::from_model_dir(missing); }).message(), missing));
  }
  SECTION("a file instead of a directory") {
    write_file(dir.file("x"), "x");
    CHECK(contains(input_error([&] { Tokenizer::from_model_dir(dir.file("x")); }).message(), "not a directory"));
  }
  SECTION("missing model file") {
    const std::string missing = dir.file("tokenizer.model");
    CHECK(contains(input_error([&] { Tokenizer::from_file(missing); }).message(), missing));
  }
  SECTION("corrupt model files") {
    const std::string model = dir.file("tokenizer.model");
    std::mt19937 rng(1234);
    std::string junk(4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng() & 0xFF);
    const std::string real = trained().serialized_model();
    for (const std::string& bytes : {junk, std::string(), real.substr(0, real.size() / 2), std::string("hello")}) {
      write_file(model, bytes);
      const auto e = input_error([&] { Tokenizer::from_model_dir(dir.path()); });
      CHECK(contains(e.message(), model));
    }
  }
}

TEST_CASE("train_tokenizer reports unusable corpora and options", "[tokenizer]") {
  TempDir dir;
  const std::string out = dir.file("t.model");
  const std::string small = dir.file("small.txt");
  write_file(small, "A tiny corpus.\nIt has only a few lines of text.\nNot enough for many pieces.\n");

  SECTION("corpus too small for vocab_size") {
    const auto e = input_error([&] { train(out, 2000, "bpe", small); });
    CHECK(contains(e.message(), "too small"));
    CHECK(contains(e.message(), "at most"));
    CHECK(contains(e.hint(), "at most"));
    CHECK_FALSE(path_exists(out));
  }
  SECTION("vocab_size below the byte and character pieces") {
    const auto e = input_error([&] { train(out, 100, "bpe", small); });
    CHECK(contains(e.message(), "vocab_size 100 is too small"));
    CHECK(contains(e.hint(), "at least"));
  }
  SECTION("bad options") {
    CHECK(contains(input_error([&] { train(out, kVocab, "bpee"); }).message(), "did you mean 'bpe'"));
    CHECK(contains(input_error([&] { train(out, kVocab, "bpe", dir.file("missing.txt")); }).message(),
                   "missing.txt"));
    CHECK(contains(input_error([&] { train(dir.file("no/such/dir/t.model")); }).message(), "does not exist"));
  }
  SECTION("empty corpus") {
    write_file(small, "\n\n");
    const auto e = input_error([&] { train(out, kVocab, "bpe", small); });
    CHECK(contains(e.message(), small));
    CHECK(contains(e.message(), "has no text"));
  }
}

namespace {
// A tiny byte-level BPE tokenizer.json (GPT-2 style) with two special added tokens and a post-processor that
// puts <s> before every sequence.
std::string tiny_bpe_json() {
  return R"({"version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 6, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 7, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [6], "tokens": ["<s>"]}}},
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
    "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
    "vocab": {"a": 0, "b": 1, "\u0120": 2, "ab": 3, "\u0120ab": 4, "\u00c3": 5},
    "merges": [["a", "b"], ["\u0120", "ab"]]}})";
}
}  // namespace

TEST_CASE("a model directory with tokenizer.json uses it, with its special tokens and template", "[tokenizer][hf]") {
  TempDir dir;
  write_file(dir.file("tokenizer.json"), tiny_bpe_json());
  SECTION("post-processor defaults: BOS added, no EOS") {
    const Tokenizer tok = Tokenizer::from_model_dir(dir.path());
    CHECK(tok.kind() == TokenizerKind::HfJson);
    CHECK(tok.hf() != nullptr);
    CHECK(tok.vocab_size() == 8);
    CHECK(tok.special().bos == 6);
    CHECK(tok.special().add_bos);
    CHECK(tok.special().eos == -1);
    CHECK(tok.encode("ab ab", false) == std::vector<int>{3, 4});
    CHECK(tok.encode("ab ab", true) == std::vector<int>{6, 3, 4});
    CHECK(tok.encode("<s>ab", false) == std::vector<int>{6, 3});  // special tokens in text are recognised (HF)
    CHECK(tok.decode({6, 3, 4}) == "ab ab");                     // specials skipped
    CHECK(tok.decode_piece(4) == " ab");
    CHECK(tok.decode_piece(6).empty());
    CHECK(tok.piece(4) == "\xC4\xA0" "ab");
    CHECK(tok.type(6) == PieceType::Control);
    CHECK(tok.type(3) == PieceType::Normal);
    CHECK(tok.piece_to_id("ab") == 3);
    CHECK(tok.piece_to_id("zz") == -1);
    CHECK(tok.fingerprint() == sha256_hex(tiny_bpe_json()));
    CHECK(tok.serialized_model() == tiny_bpe_json());
  }
  SECTION("tokenizer_config.json names EOS and the template; the fingerprint covers the template") {
    write_file(dir.file("tokenizer_config.json"),
               R"({"eos_token": "</s>", "add_bos_token": false, "chat_template": "{{ messages }}"})");
    const Tokenizer tok = Tokenizer::from_model_dir(dir.path());
    CHECK(tok.special().eos == 7);
    CHECK(tok.special().eos_ids == std::vector<int>{7});
    CHECK_FALSE(tok.special().add_bos);
    CHECK(tok.chat_template() == "{{ messages }}");
    CHECK(tok.fingerprint() == sha256_hex(tiny_bpe_json() + std::string(1, '\0') + "{{ messages }}"));
    // from_file on the tokenizer.json resolves the same files beside it.
    const Tokenizer same = Tokenizer::from_file(dir.file("tokenizer.json"));
    CHECK(same.special().eos == 7);
    CHECK(same.fingerprint() == tok.fingerprint());
  }
  SECTION("a special token that is not in tokenizer.json names the file and key") {
    write_file(dir.file("tokenizer_config.json"), R"({"eos_token": "<|end|>"})");
    const auto e = input_error([&] { Tokenizer::from_model_dir(dir.path()); });
    CHECK(contains(e.message(), "eos_token"));
    CHECK(contains(e.message(), "<|end|>"));
    CHECK(contains(e.message(), "a token of tokenizer.json"));
  }
  SECTION("an unsupported component is refused by name") {
    std::string j = tiny_bpe_json();
    j.replace(j.find("\"type\": \"BPE\""), 13, "\"type\": \"Unigram\"");
    write_file(dir.file("tokenizer.json"), j);
    const auto e = input_error([&] { Tokenizer::from_model_dir(dir.path()); });
    CHECK(contains(e.message(), "Unigram"));
    CHECK(contains(e.message(), dir.file("tokenizer.json")));
  }
}
