// Text metrics and gates on hand-checked examples.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "core/error.h"
#include "eval/gates.h"
#include "eval/metrics.h"

using namespace loratune;
using namespace loratune::eval;
using Catch::Matchers::Contains;

namespace {
// The message + hint of the input error f throws ("" when it throws none or another kind).
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    if (e.kind() == ExitCode::Usage) return e.message() + " | " + e.hint();
  }
  return "";
}
}  // namespace

// Hand-computed values; exact fractions, so the tolerance is only for the floating-point division (1e-12).
TEST_CASE("normalize_answer follows SQuAD: case, punctuation, articles, whitespace", "[eval][metrics]") {
  CHECK(normalize_answer("The  Cat,\tsat on a mat!") == "cat sat on mat");
  CHECK(normalize_answer("An apple's THE best") == "apples best");
  CHECK(normalize_answer("  the  ") == "");
  CHECK(normalize_answer("theatre another") == "theatre another");  // articles only as whole words
  CHECK(normalize_answer("Caf\xC3\xA9 au lait.") == "caf\xC3\xA9 au lait");  // non-ASCII bytes kept
  CHECK(normalized_tokens("A b, C") == std::vector<std::string>{"b", "c"});
}

TEST_CASE("exact match and contains compare normalised text", "[eval][metrics]") {
  CHECK(exact_match("the Eiffel Tower.", "Eiffel tower") == 1.0);
  CHECK(exact_match("Eiffel", "Eiffel tower") == 0.0);
  CHECK(contains_match("It is the Eiffel Tower, in Paris", "eiffel tower") == 1.0);
  CHECK(contains_match("Parisian", "paris") == 0.0);  // whole words only
  CHECK(contains_match("in paris", "Paris.") == 1.0);
  CHECK(contains_match("anything", "the") == 0.0);  // an empty normalised reference matches only emptiness
  CHECK(contains_match("", "a") == 1.0);
}

TEST_CASE("token F1 is SQuAD's multiset overlap F1", "[eval][metrics]") {
  // [cat sat on mat] vs [cat on mat]: overlap 3, P = 3/4, R = 1, F1 = 6/7.
  CHECK(token_f1("the cat sat on the mat", "a cat on a mat") == Approx(6.0 / 7.0).margin(1e-12));
  // [x x y] vs [x y y]: overlap min-counts x 1 + y 1 = 2, P = R = 2/3.
  CHECK(token_f1("x x y", "x y y") == Approx(2.0 / 3.0).margin(1e-12));
  CHECK(token_f1("dog", "cat") == 0.0);
  CHECK(token_f1("the", "") == 1.0);  // both empty after normalisation
  CHECK(token_f1("cat", "") == 0.0);
}

TEST_CASE("ROUGE-L is the LCS F1 over normalised words", "[eval][metrics]") {
  // CLRS's example: LCS(ABCBDAB, BDCABA) = 4.
  CHECK(lcs_length({"a", "b", "c", "b", "d", "a", "b"}, {"b", "d", "c", "a", "b", "a"}) == 4);
  CHECK(lcs_length({}, {"a"}) == 0);
  // Lin (2004)'s sentences, articles dropped: reference [police killed gunman].
  // [police kill gunman]: LCS 2 (police, gunman), P = R = 2/3.
  CHECK(rouge_l_f1("police kill the gunman", "police killed the gunman") == Approx(2.0 / 3.0).margin(1e-12));
  // [gunman kill police]: LCS 1, P = R = 1/3.
  CHECK(rouge_l_f1("the gunman kill police", "police killed the gunman") == Approx(1.0 / 3.0).margin(1e-12));
  // [a b c d e] vs [a c e]: LCS 3, P = 3/5, R = 1, F = 2 * 0.6 / 1.6 = 0.75 ('a' is not an article here: "x").
  CHECK(rouge_l_f1("x b c d e", "x c e") == Approx(0.75).margin(1e-12));
  CHECK(rouge_l_f1("", "") == 1.0);
  CHECK(rouge_l_f1("word", "") == 0.0);
  const TextScores s = score_text("The answer is Paris.", "paris");
  CHECK(s.exact_match == 0.0);
  CHECK(s.contains == 1.0);
  CHECK(s.token_f1 == Approx(0.5).margin(1e-12));  // [answer is paris] vs [paris]: P 1/3, R 1 -> 0.5
  CHECK(s.rouge_l == Approx(0.5).margin(1e-12));
}

TEST_CASE("gates parse METRIC OP NUMBER", "[eval][gates]") {
  Gate g = parse_gate("ppl<=12.5");
  CHECK(g.metric == "ppl");
  CHECK(g.op == GateOp::LessEqual);
  CHECK(g.bound == 12.5);
  g = parse_gate("  delta.loss <= -0.1 ");
  CHECK(g.metric == "delta.loss");
  CHECK(g.bound == -0.1);
  CHECK(g.text == "delta.loss <= -0.1");
  CHECK(parse_gate("rougeL>=0.40").op == GateOp::GreaterEqual);
  CHECK(parse_gate("accuracy<0.9").op == GateOp::Less);
  CHECK(parse_gate("accuracy>1e-3").bound == 1e-3);
  CHECK(parse_gate("delta.loss==0").op == GateOp::Equal);
  for (const char* bad : {"ppl", "ppl<=", "<=3", "ppl<=abc", "ppl=3", "pp l<=3", "ppl<=1.0x", "ppl<=inf", "ppl<=nan"}) {
    INFO(bad);
    CHECK_THAT(input_error([&] { parse_gate(bad); }), Contains("malformed gate") && Contains("METRIC OP NUMBER"));
  }
}

TEST_CASE("gates pass and fail by their operator; NaN fails", "[eval][gates]") {
  CHECK(gate_passes(parse_gate("ppl<=12.5"), 12.5));
  CHECK_FALSE(gate_passes(parse_gate("ppl<=12.5"), 12.6));
  CHECK_FALSE(gate_passes(parse_gate("ppl<12.5"), 12.5));
  CHECK(gate_passes(parse_gate("rougeL>=0.4"), 0.4));
  CHECK_FALSE(gate_passes(parse_gate("rougeL>0.4"), 0.4));
  CHECK(gate_passes(parse_gate("delta.loss==0"), 0.0));
  CHECK_FALSE(gate_passes(parse_gate("loss<=10"), NAN));
  auto results = evaluate_gates({parse_gate("ppl<=12.5"), parse_gate("rougeL>=0.4")}, {{"ppl", 10.0}, {"rougeL", 0.3125}});
  REQUIRE(results.size() == 2);
  CHECK(results[0].passed);
  CHECK_FALSE(results[1].passed);
  CHECK(describe_gate_result(results[1]) == "rougeL = 0.3125, bound >= 0.4");
}

TEST_CASE("gate metric names are checked before evaluation", "[eval][gates]") {
  const std::vector<std::string> known = {"loss", "ppl", "rougeL", "delta.loss"};
  const std::map<std::string, std::string> how = {{"rougeL", "pass --prompts FILE"}, {"delta", "pass --compare-base"}};
  CHECK_THAT(input_error([&] { check_gate_metrics({parse_gate("rougel>=0.4")}, known, known, how); }),
             Contains("unknown metric 'rougel'") && Contains("did you mean 'rougeL'"));
  CHECK_THAT(input_error([&] { check_gate_metrics({parse_gate("delta.loss<=0")}, known, {"loss"}, how); }),
             Contains("not measured") && Contains("--compare-base"));
  CHECK_THAT(input_error([&] { check_gate_metrics({parse_gate("rougeL>=0.4")}, known, {"loss"}, how); }),
             Contains("--prompts"));
  CHECK(input_error([&] { check_gate_metrics({parse_gate("ppl<=3")}, known, {"ppl"}, how); }).empty());
}
