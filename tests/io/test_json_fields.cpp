// io::JsonFields: typed fields of a JSON object with errors naming the file, the key and the type.
#include <catch2/catch.hpp>

#include <functional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_fields.h"
#include "test_util.h"

using namespace loratune;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {
using lt_test::input_error;
}  // namespace

TEST_CASE("JsonFields reads typed fields with defaults", "[io][json]") {
  const json j = json::parse(R"({"n": 3, "f": 2.5, "i8": 8.0, "b": true, "s": "x", "z": null,
                                 "l": [1, 2], "one": 7, "o": {"k": 1}, "e": [], "bad": "q"})");
  const io::JsonFields r(j, "/d/config.json", "fix it");
  CHECK(r.path() == "/d/config.json");
  CHECK(r.has("n"));
  CHECK_FALSE(r.has("z"));  // null counts as absent
  CHECK_FALSE(r.has("missing"));
  CHECK(r.get<int64_t>("n", 0) == 3);
  CHECK(r.get<int64_t>("missing", 42) == 42);
  CHECK(r.get<int64_t>("z", 42) == 42);
  CHECK(r.get<double>("f", 0) == 2.5);
  CHECK(r.get<double>("n", 0) == 3.0);  // an integer is a number
  CHECK(r.get<bool>("b", false));
  CHECK(r.get<std::string>("s", "") == "x");
  CHECK(r.optional<int64_t>("n") == 3);
  CHECK_FALSE(r.optional<int64_t>("missing"));
  CHECK(r.list<int64_t>("l", "a list") == std::vector<int64_t>{1, 2});
  CHECK(r.list<int64_t>("one", "an integer or a list", true) == std::vector<int64_t>{7});
  CHECK(r.list<int64_t>("missing", "a list").empty());
  CHECK(r.is_set("n"));
  CHECK_FALSE(r.is_set("e"));
  CHECK_FALSE(r.is_set("z"));
  auto o = r.object("o");
  REQUIRE(o);
  CHECK(o->get<int64_t>("k", 0) == 1);
  CHECK(o->path() == "/d/config.json");
  CHECK_FALSE(r.object("missing"));
  CHECK(r.dump("s") == "\"x\"");
  CHECK(r.dump("missing") == "null");
}

TEST_CASE("JsonFields errors name the file, the key and the expected type", "[io][json]") {
  const json j = json::parse(R"({"i8": 8.0, "s": "x", "l": [1, "a"], "one": "q", "f": 1.5})");
  const io::JsonFields strict(j, "/d/config.json", "fix config.json");
  CHECK_THAT(input_error([&] { strict.get<int64_t>("i8", 0); }),
             Contains("/d/config.json: key 'i8' must be an integer, got 8.0") && Contains("fix config.json"));
  CHECK_THAT(input_error([&] { strict.get<bool>("s", false); }), Contains("key 's' must be true or false, got \"x\""));
  CHECK_THAT(input_error([&] { strict.get<std::string>("i8", ""); }), Contains("key 'i8' must be a string"));
  CHECK_THAT(input_error([&] { strict.get<double>("s", 0); }), Contains("key 's' must be a number"));
  CHECK_THAT(input_error([&] { strict.list<int64_t>("l", "a list of integers"); }),
             Contains("key 'l' must be a list of integers, got [1,\"a\"]"));
  CHECK_THAT(input_error([&] { strict.list<int64_t>("one", "an integer or a list of integers", true); }),
             Contains("key 'one' must be an integer or a list of integers"));
  CHECK_THAT(input_error([&] { strict.list<int64_t>("one", "a list"); }), Contains("key 'one' must be a list"));
  CHECK_THAT(input_error([&] { strict.require<int64_t>("hidden_size", "add it"); }),
             Contains("/d/config.json: required key 'hidden_size' is missing") && Contains("add it"));
  CHECK_THAT(input_error([&] { strict.object("s", "an object or null"); }), Contains("key 's' must be an object or null"));

  const io::JsonFields lenient(j, "a.json", "h", io::JsonFields::Integers::AllowIntegral);
  CHECK(lenient.get<int64_t>("i8", 0) == 8);
  CHECK_THAT(input_error([&] { lenient.get<int64_t>("f", 0); }), Contains("key 'f' must be an integer, got 1.5"));
}
