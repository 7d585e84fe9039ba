// Option references in library messages: the library writes {opt:NAME}, the front end renders them.
#include <catch2/catch.hpp>

#include "core/error.h"

using namespace loratune;

TEST_CASE("option references render through the front end's spelling", "[core][error]") {
  std::string (*render)(const std::string&) = [](const std::string& name) { return "--" + name + "!"; };
  SECTION("every reference is replaced, the rest is kept") {
    CHECK(render_options("pass {opt:force} or {opt:val_fraction} 0.1", render) == "pass --force! or --val_fraction! 0.1");
    CHECK(render_options("{opt:resume}", render) == "--resume!");
  }
  SECTION("without a renderer the option's name is written") {
    CHECK(render_options("continue with {opt:resume}") == "continue with resume");
  }
  SECTION("text without references, other braces and an unterminated reference stay as they are") {
    CHECK(render_options("no options here", render) == "no options here");
    CHECK(render_options("{\"prompt\": 1} {x}", render) == "{\"prompt\": 1} {x}");
    CHECK(render_options("cut {opt:forc", render) == "cut {opt:forc");
  }
}
