// json_fields: what the five file loaders share; every refusal names its field.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "protocol/json_fields.h"

namespace hearth::json_fields {
namespace {

std::string refusal(const Status& s) {
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.code() == Code::kInvalidArgument);
  return s.message();
}

TEST_CASE("parse refuses what is not JSON, naming the file, and takes any value", "[protocol]") {
  CHECK(refusal(parse("{\"a\":", "rules").status()) == "rules: not valid JSON");
  CHECK(refusal(parse("", "config").status()) == "config: not valid JSON");
  auto array = parse("[1]", "scenario");
  REQUIRE(array.is_ok());
  CHECK(array->is_array());
}

TEST_CASE("check_object: type, then unknown fields, then missing ones, by full name",
          "[protocol]") {
  const auto j = nlohmann::json::parse(R"({"a": 1, "b": {"c": 2}})");
  CHECK(check_object(j, "", {"a", "b"}, {"a"}).is_ok());
  CHECK(refusal(check_object(j, "", {"a"})) == "b: unknown field");
  CHECK(refusal(check_object(j["b"], "limits", {"x"})) == "limits.c: unknown field");
  CHECK(refusal(check_object(j["b"], "filters[2]", {"c"}, {"c", "d"})) == "filters[2].d: missing");
  CHECK(refusal(check_object(j["a"], "classes[1]", {})) == "classes[1]: must be an object");
  CHECK(refusal(check_object(j, "", {"b"}, {"z"})) == "a: unknown field");  // unknown first
}

TEST_CASE("join, at and is_language", "[protocol]") {
  CHECK(join("", "version") == "version");
  CHECK(join("limits", "max_frame_bytes") == "limits.max_frame_bytes");
  CHECK(at("classes", 3) == "classes[3]");
  CHECK(is_language("en"));
  CHECK_FALSE(is_language("EN"));
  CHECK_FALSE(is_language("eng"));
  CHECK_FALSE(is_language("e1"));
  CHECK_FALSE(is_language(""));
}

}  // namespace
}  // namespace hearth::json_fields
