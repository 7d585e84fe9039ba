// The chat-template engine (tokenizer/chat_template.h). The construct tests replay
// tests/fixtures/jinja/cases.json, whose expected outputs jinja2 produced under transformers' configuration
// (tests/reference/make_jinja_cases.py); the rest checks errors, positions, limits and the API.
#include <catch2/catch.hpp>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/error.h"
#include "core/fs.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"

using namespace loratune;
using nlohmann::ordered_json;

namespace {

const ordered_json& fixture() {
  static const ordered_json j = ordered_json::parse(read_text_file(lt_test::fixture("jinja/cases.json")));
  return j;
}

std::string render(const std::string& src, const ordered_json& ctx = ordered_json::object(),
                   std::vector<std::pair<size_t, size_t>>* spans = nullptr) {
  return ChatTemplate::parse(src, "t.jinja").render(ctx, spans);
}

// The message of the loratune::Error that fn throws (a test failure when it does not throw one).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.message();
  }
  FAIL("no loratune::Error thrown");
  return "";
}

void replay_group(const std::string& group) {
  const auto& f = fixture();
  int n = 0;
  for (const auto& c : f["cases"]) {
    if (c["group"] != group) continue;
    ++n;
    const std::string tpl = c["template"];
    INFO("template: " << tpl);
    std::string got;
    try {
      got = render(tpl, f["context"]);
    } catch (const Error& e) {
      FAIL_CHECK("loratune failed: " << e.message());
      continue;
    }
    CHECK(got == c["expected"].get<std::string>());
  }
  REQUIRE(n > 0);
}

}  // namespace

TEST_CASE("jinja: whitespace control, trim_blocks and lstrip_blocks as jinja2", "[tokenizer][jinja]") {
  replay_group("whitespace control");
}
TEST_CASE("jinja: literals, arithmetic, comparisons and Python str() of values", "[tokenizer][jinja]") {
  replay_group("literals and printing");
}
TEST_CASE("jinja: attribute and item lookup, slices, undefined", "[tokenizer][jinja]") {
  replay_group("attribute / item lookup");
}
TEST_CASE("jinja: is-tests", "[tokenizer][jinja]") { replay_group("tests"); }
TEST_CASE("jinja: filters (tojson as transformers)", "[tokenizer][jinja]") { replay_group("filters"); }
TEST_CASE("jinja: string methods", "[tokenizer][jinja]") { replay_group("string methods"); }
TEST_CASE("jinja: printf-style formatting (% and |format)", "[tokenizer][jinja]") {
  replay_group("formatting");
}
TEST_CASE("jinja: dict and list methods", "[tokenizer][jinja]") { replay_group("dict / list methods"); }
TEST_CASE("jinja: for loops, loop variable, else, filters, break and continue", "[tokenizer][jinja]") {
  replay_group("loops");
}
TEST_CASE("jinja: set, block set, namespace, macros, with, filter blocks", "[tokenizer][jinja]") {
  replay_group("set / namespace / macro");
}
TEST_CASE("jinja: generation blocks render their body", "[tokenizer][jinja]") { replay_group("generation"); }
TEST_CASE("jinja: unicode, escapes and mixed constructs", "[tokenizer][jinja]") {
  replay_group("unicode, escapes, misc");
}

TEST_CASE("jinja: what jinja2 rejects is rejected", "[tokenizer][jinja]") {
  const auto& f = fixture();
  REQUIRE(f["errors"].size() > 10);
  for (const auto& c : f["errors"]) {
    const std::string tpl = c["template"];
    INFO("template: " << tpl << "\njinja2: " << c["error"].get<std::string>());
    CHECK_THROWS_AS(render(tpl, f["context"]), Error);
  }
}

TEST_CASE("jinja: raise_exception carries the template's message and position", "[tokenizer][jinja]") {
  const std::string src =
      "{% if messages[0]['role'] != 'user' %}\n  {{ raise_exception('Roles must alternate') }}\n{% endif %}";
  const ordered_json ctx = {{"messages", {{{"role", "assistant"}, {"content", "x"}}}}};
  try {
    render(src, ctx);
    FAIL("no error");
  } catch (const ChatTemplateRaised& e) {
    CHECK(e.template_message() == "Roles must alternate");
    CHECK(e.message() == "t.jinja:2:6: the template raised an error: Roles must alternate");
    CHECK(e.kind() == ExitCode::Usage);
  }
  CHECK(render(src, {{"messages", {{{"role", "user"}, {"content", "x"}}}}}) == "");
}

TEST_CASE("jinja: syntax errors name the template, line, column and what was expected",
          "[tokenizer][jinja]") {
  const std::map<std::string, std::string> cases = {
      {"{% for i in x %}",
       "t.jinja:1:4: unexpected end of template: expected 'endfor' or 'else' to close the 'for' opened here"},
      {"ab\n  {{ 1 +  }}", "t.jinja:2:11: unexpected end of print statement '}}': expected an expression"},
      {"{% include 'x.jinja' %}",
       "t.jinja:1:4: 'include' is not supported: a chat template renders alone, without loading other "
       "templates"},
      {"{% extends 'base' %}",
       "t.jinja:1:4: 'extends' is not supported: a chat template renders alone, without loading other "
       "templates"},
      {"{% import 'm' as m %}",
       "t.jinja:1:4: 'import' is not supported: a chat template renders alone, without loading other "
       "templates"},
      {"x\n{{ y | nofilter }}", "t.jinja:2:8: unknown or unsupported filter 'nofilter'"},
      {"{{ y is nosuchtest }}", "t.jinja:1:9: unknown or unsupported test 'nosuchtest'"},
      {"{% do x %}", "t.jinja:1:4: unknown tag 'do'"},
      {"{% break %}", "t.jinja:1:4: 'break' outside of a for loop"},
      {"{{ 'abc }}", "t.jinja:1:4: unterminated string literal: expected '"},
      {"{# open", "t.jinja:1:1: missing end of comment tag: expected '#}'"},
      {"{% if x %}a{% endfor %}", "t.jinja:1:15: unknown tag 'endfor'"},
      {"{{ (1 }}", "t.jinja:1:7: unexpected '}': expected ')'"},
      {"{{ [1, 2 }}", "t.jinja:1:10: unexpected '}': expected ']'"},
      {"{{ [1 2] }}", "t.jinja:1:7: expected ',', got number '2'"},
      {"{% call m %}{% endcall %}", "t.jinja:1:9: expected a macro call after 'call'"},
      {"{% macro m() %}{% break %}{% endmacro %}", "t.jinja:1:19: 'break' outside of a for loop"},
  };
  for (const auto& [src, want] : cases) {
    INFO("template: " << src);
    CHECK(error_of([&] { ChatTemplate::parse(src, "t.jinja"); }) == want);
  }
}

TEST_CASE("jinja: runtime errors name the position", "[tokenizer][jinja]") {
  CHECK(error_of([] { render("line\n  {{ nothing.here }}"); }) == "t.jinja:2:13: 'nothing' is undefined");
  CHECK(error_of([] { render("{{ 1 + 'a' }}"); }) ==
        "t.jinja:1:6: unsupported operand type(s) for +: 'int' and 'str'");
  CHECK(error_of([] { render("{{ 'a' + 1 }}"); }) ==
        "t.jinja:1:8: can only concatenate str (not \"int\") to str");
  CHECK(error_of([] { render("{{ 1 // 0 }}"); }) == "t.jinja:1:6: integer division or modulo by zero");
  // The sandbox refuses to mutate inputs (ImmutableSandboxedEnvironment); merely naming the method is fine.
  CHECK(render("[{{ x.append }}]", {{"x", {1}}}) == "[]");
  CHECK(error_of([] {
          render("{{ x.append(2) }}", {{"x", {1}}});
        }).find("access to attribute 'append' of 'list' object is unsafe") != std::string::npos);
  CHECK(error_of([] {
          render("{% set ns = namespace() %}{% set ns._x = 1 %}");
        }).find("underscore-prefixed") != std::string::npos);
  CHECK(error_of([] { render("{{ x|tojson }}", ordered_json::object()); }) ==
        "t.jinja:1:6: Object of type Undefined is not JSON serializable (in filter 'tojson')");
}

TEST_CASE("jinja: limits on loops, recursion, output, range and nesting", "[tokenizer][jinja]") {
  ChatTemplateLimits lim;
  lim.max_loop_iterations = 1000;
  auto t = ChatTemplate::parse("{% for i in range(40) %}{% for j in range(40) %}.{% endfor %}{% endfor %}",
                               "t.jinja");
  t.set_limits(lim);
  CHECK(error_of([&] { t.render(ordered_json::object()); }) ==
        "t.jinja:1:28: the template ran more than 1000 loop iterations");
  lim.max_loop_iterations = 2000;
  t.set_limits(lim);
  CHECK(t.render(ordered_json::object()).size() == 1600);

  CHECK(error_of([] {
          render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        }).find("macro calls nest deeper than 100 levels") != std::string::npos);
  // 100 nested calls are fine.
  CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(99) }}")
            .size() == 190);

  ChatTemplateLimits small;
  small.max_output_bytes = 10;
  auto big = ChatTemplate::parse("{{ 'x' * 11 }}", "t.jinja");
  big.set_limits(small);
  CHECK(error_of([&] { big.render(ordered_json::object()); }) ==
        "t.jinja: the rendered text exceeds 10 bytes");

  CHECK(error_of([] { render("{{ range(100001)|length }}"); }) ==
        "t.jinja:1:4: range() is limited to 100000 items in the sandbox");
  CHECK(render("{{ range(100000)|length }}") == "100000");

  // A template cannot build a value so deep that printing it exhausts the stack.
  CHECK(error_of([] {
          render(
              "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor "
              "%}{{ ns.x }}");
        }) == "t.jinja:1:73: a value nests deeper than 512 levels");
  ordered_json nested = ordered_json::array();
  for (int k = 0; k < 1000; ++k) nested = ordered_json::array({nested});
  CHECK(error_of([&] {
          render("{{ 1 }}", {{"x", nested}});
        }) == "t.jinja: the template variables: a value nests deeper than 512 levels");

  // Values cannot grow without bound in memory either.
  CHECK(error_of([] {
          render(
              "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor "
              "%}");
        }).find("the concatenated string is too long") != std::string::npos);
  CHECK(error_of([] {
          render(
              "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor "
              "%}");
        }).find("the concatenated list is too long") != std::string::npos);
  CHECK(error_of([] { render("{{ 'ab' * 100000000 }}"); }) == "t.jinja:1:9: string repetition too large");
  CHECK(render("[{{ '' * 1000000000000 }}]") == "[]");
  CHECK(error_of([] { render("{{ 'x'|center(100000000) }}"); }).find("a width of 100000000 is more than") !=
        std::string::npos);
  CHECK(error_of([] {
          render("{{ '{:999999999}'.format(1) }}");
        }).find("is more than the template engine allows") != std::string::npos);

  const std::string deep = "{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}";
  CHECK(error_of([&] { ChatTemplate::parse(deep, "t.jinja"); }).find("nests deeper than 200 levels") !=
        std::string::npos);
}

TEST_CASE("jinja: generation spans are the byte ranges rendered inside {% generation %}",
          "[tokenizer][jinja]") {
  const std::string src =
      "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}"
      "{% endgeneration %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}";
  const ordered_json ctx = {{"messages",
                             {{{"role", "user"}, {"content", "hi"}},
                              {{"role", "assistant"}, {"content", "héllo"}},
                              {{"role", "user"}, {"content", "x"}},
                              {{"role", "assistant"}, {"content", "bye"}}}}};
  std::vector<std::pair<size_t, size_t>> spans;
  const auto t = ChatTemplate::parse(src, "t.jinja");
  CHECK(t.has_generation());
  const std::string out = t.render(ctx, &spans);
  // trim_blocks eats the newline after {% endif %}; transformers reports [(19, 24), (42, 45)] in characters.
  CHECK(out == "<user>hi<assistant>héllo<user>x<assistant>bye");
  REQUIRE(spans.size() == 2);
  CHECK(out.substr(spans[0].first, spans[0].second - spans[0].first) == "héllo");
  CHECK(out.substr(spans[1].first, spans[1].second - spans[1].first) == "bye");
  CHECK(spans[0] == std::make_pair<size_t, size_t>(19, 25));
  CHECK(spans[1] == std::make_pair<size_t, size_t>(43, 46));
  CHECK_FALSE(ChatTemplate::parse("{{ 1 }}", "t.jinja").has_generation());
}

TEST_CASE("jinja: chat_context adds transformers' defaults and reasoning aliases", "[tokenizer][jinja]") {
  const ordered_json vars = {
      {"messages",
       {{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "a"}, {"reasoning", "r"}}}},
      {"bos_token", "<s>"}};
  const ordered_json ctx = ChatTemplate::chat_context(vars);
  CHECK(ctx["tools"].is_null());
  CHECK(ctx["documents"].is_null());
  CHECK(ctx["add_generation_prompt"] == false);
  CHECK(ctx["bos_token"] == "<s>");
  CHECK(ctx["messages"][0].dump() == R"({"role":"user","content":"q"})");
  // Python: {"thinking": r, **message, "reasoning_content": r}
  CHECK(ctx["messages"][1].dump() ==
        R"({"thinking":"r","role":"assistant","content":"a","reasoning":"r","reasoning_content":"r"})");
  CHECK(error_of([] {
          ChatTemplate::chat_context({{"messages", ordered_json::array()}});
        }) == "cannot apply a chat template to an empty conversation");
  // tools is defined (as None) for the template, as in transformers.
  CHECK(ChatTemplate::parse("{{ tools is defined }} {{ tools is none }}", "t.jinja").render(ctx) ==
        "True True");
}

TEST_CASE("jinja: newlines are normalized and one trailing newline dropped, as jinja2 reads a template",
          "[tokenizer][jinja]") {
  CHECK(render("a\r\nb\rc\n") == "a\nb\nc");
  CHECK(render("a\n\n") == "a\n");
  // Within a string literal the newline stays.
  CHECK(render("{{ 'x\r\ny' }}") == "x\ny");
}

TEST_CASE("jinja: render_continuing leaves the final message open as continue_final_message does",
          "[tokenizer][jinja]") {
  const ordered_json ctx = ChatTemplate::chat_context(
      {{"messages",
        {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "Hel lo  "}}}}});
  // Expected texts: transformers' render_jinja_template(..., continue_final_message=True).
  CHECK(ChatTemplate::parse("{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}", "t.jinja")
            .render_continuing(ctx) == "<user>hi</s><assistant>Hel lo  ");
  // The template trims the content: the marker loses its space, and the text its trailing spaces.
  CHECK(ChatTemplate::parse("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</s>{% endfor %}",
                            "t.jinja")
            .render_continuing(ctx) == "<user>hi</s><assistant>Hel lo");
  CHECK(error_of([&] {
          ChatTemplate::parse("{% for m in messages %}{{ m.role }}{% endfor %}", "t.jinja")
              .render_continuing(ctx);
        }) == "t.jinja: the final message's \"content\" cannot be continued: the template never names it");
  CHECK(error_of([&] {
          ChatTemplate::parse("{% for m in messages %}{{ m.role }}{{ m.content[:2] }}{% endfor %}", "t.jinja")
              .render_continuing(ctx);
        }) == "t.jinja: the final message does not appear in the rendered chat, so it cannot be continued");
}
