// tokenizer.json reader (HfTokenizer): every component and whole tiny tokenizers against what the Hugging
// Face `tokenizers` library returns for them (hf_expected.inc, written by hf_expected.py), plus the errors.
// The real tokenizer files (SmolLM2, Llama-3, Qwen, ...) are compared on a large corpus by
// tests/reference/test_hf_tokenizers.py.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/hf_decoder.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/hf_normalizer.h"
#include "tokenizer/hf_pretokenizer.h"
#include "tokenizer/hf_regex.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/hf_unicode.h"

using namespace loratune;
using lt_test::input_error;
using lt_test::TempDir;
using lt_test::write_file;

namespace {

struct ComponentCase {
  const char* json;
  const char* input;
  std::vector<std::string> expected;
};
struct DecoderCase {
  const char* json;
  std::vector<std::string> tokens;
  const char* expected;
};
struct FullCase {
  const char* name;
  const char* json;
  const char* text;
  std::vector<int> ids, ids_nospecial;
  const char* decoded;
  const char* decoded_skip;
};

#include "hf_expected.inc"

const std::string kFile = "case.json";

// A minimal valid tokenizer.json around `model` / components (JSON text).
std::string tokenizer_json(const std::string& model, const std::string& extra = "") {
  return R"({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
             "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": )" +
         model + extra + "}";
}
const std::string kModel =
    R"({"type": "BPE", "dropout": null, "unk_token": null, "vocab": {"a": 0, "b": 1, "ab": 2},
        "merges": [["a", "b"]]})";

}  // namespace

TEST_CASE("tokenizer.json normalizers match tokenizers", "[tokenizer][hf]") {
  for (const auto& c : kNormalizerCases) {
    INFO(c.json << " on \"" << c.input << "\"");
    const nlohmann::json j = nlohmann::json::parse(c.json);
    const auto n = hf::Normalizer::parse(hf::JsonAt(j, kFile, "normalizer"));
    CHECK(n.apply(c.input) == c.expected.at(0));
  }
}

TEST_CASE("tokenizer.json pre-tokenizers match tokenizers", "[tokenizer][hf]") {
  for (const auto& c : kPreTokenizerCases) {
    INFO(c.json << " on \"" << c.input << "\"");
    const nlohmann::json j = nlohmann::json::parse(c.json);
    const auto p = hf::PreTokenizer::parse(hf::JsonAt(j, kFile, "pre_tokenizer"));
    std::vector<hf::Piece> out;
    p.run(hf::Piece{c.input, true}, out);
    std::vector<std::string> got;
    for (const auto& piece : out) got.push_back(piece.text);
    CHECK(got == c.expected);
  }
}

TEST_CASE("tokenizer.json decoders match tokenizers", "[tokenizer][hf]") {
  for (const auto& c : kDecoderCases) {
    INFO(c.json);
    const nlohmann::json j = nlohmann::json::parse(c.json);
    const auto d = hf::Decoder::parse(hf::JsonAt(j, kFile, "decoder"));
    CHECK(d.decode(c.tokens) == c.expected);
  }
}

TEST_CASE("tiny tokenizer.json files encode and decode as tokenizers does", "[tokenizer][hf]") {
  // BPE merges / ranks / unk / byte_fallback / prefix+suffix / ignore_merges, added tokens with
  // lstrip / rstrip / single_word / normalized, template BOS/EOS, decode with and without specials.
  for (const auto& c : kFullCases) {
    INFO(c.name << " on \"" << c.text << "\"");
    const HfTokenizer tok = HfTokenizer::from_json(c.json, std::string(c.name) + ".json");
    CHECK(tok.encode(c.text, true) == c.ids);
    CHECK(tok.encode(c.text, false) == c.ids_nospecial);
    CHECK(tok.decode(c.ids, false) == c.decoded);
    CHECK(tok.decode(c.ids, true) == c.decoded_skip);
  }
}

TEST_CASE("HfTokenizer accessors", "[tokenizer][hf]") {
  const FullCase* bl = nullptr;
  for (const auto& c : kFullCases)
    if (std::string(c.name) == "bytelevel_template") bl = &c;
  REQUIRE(bl);
  TempDir dir("hftok");
  write_file(dir.file("tokenizer.json"), bl->json);
  const HfTokenizer tok = HfTokenizer::from_file(dir.file("tokenizer.json"));
  // 256 byte characters + 5 merges, then the added tokens get ids after the vocabulary (tokenizers
  // ignores the file's "id" for contents that are not in the model).
  CHECK(tok.vocab_size() == 256 + 5 + 3);
  REQUIRE(tok.added_tokens().size() == 3);
  CHECK(tok.added_tokens()[0].content == "<s>");
  CHECK(tok.token_to_id("<s>") == tok.added_tokens()[0].id);
  CHECK(tok.is_special(tok.token_to_id("</s>")));
  CHECK_FALSE(tok.is_special(tok.token_to_id("the") >= 0 ? tok.token_to_id("the") : 0));
  CHECK(tok.token_to_id("no such token") == -1);
  CHECK(tok.id_to_token(tok.token_to_id("Ġthe")) == "Ġthe");
  CHECK(tok.id_to_token(99999).empty());
  CHECK(tok.template_prefix_ids() == std::vector<int>{261});
  CHECK(tok.template_suffix_ids() == std::vector<int>{262});
  CHECK(tok.byte_level());
  CHECK_FALSE(tok.byte_fallback());
  CHECK(tok.raw_json() == bl->json);
  CHECK(tok.sha256().size() == 64);
  CHECK(tok.encode_pieces("the hello", false) == std::vector<std::string>{"t", "he", "Ġ", "he", "ll", "o"});
  // Invalid UTF-8 is read as U+FFFD (what Python's errors="replace" gives tokenizers).
  CHECK(tok.encode("a\xff"
                   "b",
                   false) == tok.encode("a\xEF\xBF\xBD"
                                        "b",
                                        false));
}

TEST_CASE("HfTokenizer truncation and padding can be switched off", "[tokenizer][hf]") {
  for (const auto& c : kFullCases) {
    const std::string name = c.name;
    if (name != "truncate_right" && name != "pad_fixed") continue;
    HfTokenizer tok = HfTokenizer::from_json(c.json, name + ".json");
    CHECK((name == "truncate_right" ? tok.truncates() : tok.pads()));
    REQUIRE(tok.encode(c.text, true) == c.ids);
    tok.disable_truncation_and_padding();
    CHECK_FALSE(tok.truncates());
    CHECK_FALSE(tok.pads());
    const std::vector<int> plain = tok.encode(c.text, true);
    // What the same tokenizer without those settings gives (the bytelevel_template case).
    const HfTokenizer base = HfTokenizer::from_json(kFullCases[0].json, "base.json");
    CHECK(plain == base.encode(c.text, true));
  }
}

TEST_CASE("HfTokenizer::decode_piece streams the bytes of each token", "[tokenizer][hf]") {
  for (const auto& c : kFullCases) {
    const std::string name = c.name;
    if (name != "bytelevel_template" && name != "spm_byte_fallback") continue;
    INFO(name << " on \"" << c.text << "\"");
    const HfTokenizer tok = HfTokenizer::from_json(c.json, name + ".json");
    std::string joined;
    for (int id : c.ids_nospecial) joined += tok.decode_piece(id);
    // Byte-level: exactly the text; Metaspace with prepend_scheme "first": the text after the prepended
    // space (which decode() drops).
    const std::string text = c.text;
    if (name == "bytelevel_template")
      CHECK(joined == text);
    else if (text.rfind("<s>", 0) == 0)
      CHECK(joined == text);
    else if (!text.empty() && text[0] != ' ')
      CHECK(joined == " " + text);
  }
  const HfTokenizer tok = HfTokenizer::from_json(kFullCases[0].json, "t.json");
  CHECK(tok.decode_piece(-5).empty());
}

TEST_CASE("HfTokenizer::encode is thread-safe (shared pre-token cache)", "[tokenizer][hf]") {
  const FullCase* bl = nullptr;
  for (const auto& c : kFullCases)
    if (std::string(c.name) == "spm_byte_fallback") bl = &c;
  REQUIRE(bl);
  const HfTokenizer tok = HfTokenizer::from_json(bl->json, "t.json");
  std::vector<std::pair<std::string, std::vector<int>>> want;
  for (const auto& c : kFullCases)
    if (std::string(c.name) == "spm_byte_fallback") want.emplace_back(c.text, c.ids);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 2000; ++r) {
        const auto& [text, ids] = want[static_cast<size_t>(r + t) % want.size()];
        // Distinct texts too, so that threads insert into the cache while others read it.
        if (tok.encode(text, true) != ids) ++wrong;
        tok.encode(text + " " + std::to_string(r * 4 + t), false);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}

TEST_CASE("Oniguruma patterns translate to PCRE2", "[tokenizer][hf]") {
  CHECK(hf::onig_to_pcre2(R"(\s+(?!\S))") == R"(\p{White_Space}+(?!\P{White_Space}))");
  CHECK(hf::onig_to_pcre2(R"([^\s\p{L}])") == R"([^\p{White_Space}\p{L}])");
  CHECK(hf::onig_to_pcre2(R"(\w+[\w-])") == R"([\p{L}\p{M}\p{N}\p{Pc}]+[\p{L}\p{M}\p{N}\p{Pc}-])");
  CHECK(hf::onig_to_pcre2(R"([]a])") == R"([\]a])");
  CHECK(hf::onig_to_pcre2(R"((?im:a.)(?i)b)") == R"((?is:a.)(?i)b)");
  // U+180E is White_Space for neither Oniguruma nor Unicode 15, but PCRE2's \s takes it.
  const auto re = hf::Regex::onig(R"(\s)");
  std::vector<std::pair<size_t, size_t>> m;
  re.find_all(
      "a\xE1\xA0\x8E"
      "b\xC2\xA0"
      "c",
      m);
  REQUIRE(m.size() == 1);
  CHECK(m[0] == std::make_pair<size_t, size_t>(5, 7));
  // Empty matches: as Oniguruma's iterator, an empty match right after a match is skipped.
  hf::Regex::onig("a*").find_all("baa", m);
  CHECK(m == std::vector<std::pair<size_t, size_t>>{{0, 0}, {1, 3}});
}

TEST_CASE("UTF-8 lossy decoding replaces maximal invalid subparts", "[tokenizer][hf]") {
  CHECK(hf::utf8_lossy("a\xF0\x9F\x98"
                       "b") ==
        "a\xEF\xBF\xBD"
        "b");                                                       // truncated 4-byte: one U+FFFD
  CHECK(hf::utf8_lossy("\xC0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: one per byte
  CHECK(hf::utf8_lossy("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(hf::utf8_lossy("ok\xE2\x82\xAC") == "ok\xE2\x82\xAC");
  CHECK(hf::to_lowercase("\xC4\xB0X") == "i\xCC\x87x");  // U+0130 lowercases to two characters
}

TEST_CASE("tokenizer.json errors name the file and the key", "[tokenizer][hf]") {
  TempDir dir("hftok");
  SECTION("missing file") {
    const std::string e = input_error([&] { HfTokenizer::from_file(dir.file("nope.json")); });
    CHECK_THAT(e, Catch::Contains(dir.file("nope.json")) && Catch::Contains("no such file"));
  }
  SECTION("malformed JSON gives nlohmann's line and column") {
    const std::string e = input_error([&] { HfTokenizer::from_json("{\n  \"model\": [1,\n}", "bad.json"); });
    CHECK_THAT(e, Catch::Contains("bad.json") && Catch::Contains("line 3, column 1"));
  }
  SECTION("missing key") {
    const std::string e = input_error([&] { HfTokenizer::from_json(R"({"version": "1.0"})", "t.json"); });
    CHECK_THAT(e, Catch::Contains("t.json") && Catch::Contains("'model'"));
    const std::string e2 = input_error(
        [&] { HfTokenizer::from_json(tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}})"), "t.json"); });
    CHECK_THAT(e2, Catch::Contains("t.json: model") && Catch::Contains("'merges'"));
  }
  SECTION("a merge naming a token outside the vocabulary") {
    const std::string e = input_error([&] {
      HfTokenizer::from_json(tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
                                                "merges": ["a b", "b c"]})"),
                             "t.json");
    });
    CHECK_THAT(e, Catch::Contains("t.json: model.merges[1]") && Catch::Contains("\"c\"") &&
                      Catch::Contains("merge 1"));
    const std::string e2 = input_error([&] {
      HfTokenizer::from_json(
          tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]})"), "t.json");
    });
    CHECK_THAT(e2, Catch::Contains("model.merges[0]") && Catch::Contains("\"ab\""));
    const std::string e3 = input_error([&] {
      HfTokenizer::from_json(tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]})"),
                             "t.json");
    });
    CHECK_THAT(e3, Catch::Contains("model.merges[0]"));
  }
  SECTION("malformed vocab / merges entries (read by the streaming parser)") {
    const std::string e = input_error([&] {
      HfTokenizer::from_json(tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": "1"}, "merges": []})"),
                             "t.json");
    });
    CHECK_THAT(e, Catch::Contains("t.json: model.vocab") && Catch::Contains("token 'b'") &&
                      Catch::Contains("\"1\""));
    const std::string e2 = input_error([&] {
      HfTokenizer::from_json(tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
                                                "merges": [["a", "b"], 7]})"),
                             "t.json");
    });
    CHECK_THAT(e2, Catch::Contains("t.json: model.merges[1]") && Catch::Contains("got 7"));
    const std::string e3 = input_error([&] {
      HfTokenizer::from_json(tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
                                                "merges": ["a b", ["a", "b", "c"]]})"),
                             "t.json");
    });
    CHECK_THAT(e3, Catch::Contains("t.json: model.merges[1]") && Catch::Contains("3 items"));
    // A later duplicate key wins, as in tokenizers (a map): "b" is id 3, and "ab" still merges.
    const HfTokenizer tok = HfTokenizer::from_json(
        tokenizer_json(
            R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "b": 3}, "merges": [["a", "b"]]})"),
        "t.json");
    CHECK(tok.token_to_id("b") == 3);
    CHECK(tok.encode("ab", false) == std::vector<int>{2});
    CHECK(tok.encode("ba", false) == std::vector<int>{3, 0});
  }
  SECTION("unsupported components are refused by name and JSON path") {
    const auto refused = [](const std::string& json, const std::string& path, const std::string& name) {
      const std::string e = input_error([&] { HfTokenizer::from_json(json, "t.json"); });
      CHECK_THAT(
          e, Catch::Contains("t.json: " + path) && Catch::Contains(name) && Catch::Contains("not supported"));
    };
    refused(tokenizer_json(R"({"type": "Unigram", "vocab": []})"), "model.type", "Unigram");
    refused(tokenizer_json(R"({"type": "WordPiece", "vocab": {}})"), "model.type", "WordPiece");
    refused(tokenizer_json(R"({"type": "BPE", "dropout": 0.1, "vocab": {}, "merges": []})"), "model.dropout",
            "dropout");
    refused(tokenizer_json(kModel, R"(, "normalizer": {"type": "Precompiled", "precompiled_charsmap": ""})"),
            "normalizer.type", "Precompiled");
    refused(tokenizer_json(kModel, R"(, "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"},
            {"type": "BertNormalizer"}]})"),
            "normalizer.normalizers[1].type", "BertNormalizer");
    refused(tokenizer_json(kModel, R"(, "pre_tokenizer": {"type": "BertPreTokenizer"})"),
            "pre_tokenizer.type", "BertPreTokenizer");
    refused(tokenizer_json(kModel, R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type":
            "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways", "invert": false}]})"),
            "pre_tokenizer.pretokenizers[0].behavior", "Sideways");
    refused(tokenizer_json(kModel, R"(, "post_processor": {"type": "RobertaProcessing"})"),
            "post_processor.type", "RobertaProcessing");
    refused(tokenizer_json(kModel, R"(, "decoder": {"type": "WordPiece", "prefix": "##"})"), "decoder.type",
            "WordPiece");
  }
  SECTION("truncation settings tokenizers would refuse at encode time") {
    const auto trunc = [](const std::string& settings) {
      return HfTokenizer::from_json(tokenizer_json(kModel, ", \"truncation\": " + settings), "t.json");
    };
    const HfTokenizer second = trunc(R"({"max_length": 1, "strategy": "OnlySecond", "stride": 0})");
    CHECK(second.encode("a", false) == std::vector<int>{0});  // nothing to cut: no error
    CHECK_THAT(input_error([&] { second.encode("abab", false); }), Catch::Contains("OnlySecond"));
    const HfTokenizer stride = trunc(R"({"max_length": 1, "strategy": "LongestFirst", "stride": 1})");
    CHECK_THAT(input_error([&] { stride.encode("abab", false); }), Catch::Contains("stride"));
    CHECK_THAT(input_error([&] { trunc(R"({"max_length": 1, "strategy": "Sideways", "stride": 0})"); }),
               Catch::Contains("t.json: truncation.strategy") && Catch::Contains("not supported"));
  }
  SECTION("a regex that does not compile") {
    const std::string e = input_error([&] {
      HfTokenizer::from_json(tokenizer_json(kModel, R"(, "pre_tokenizer": {"type": "Split", "pattern":
                             {"Regex": "(a"}, "behavior": "Isolated", "invert": false})"),
                             "t.json");
    });
    CHECK_THAT(e, Catch::Contains("t.json: pre_tokenizer.pattern") && Catch::Contains("(a"));
  }
}
