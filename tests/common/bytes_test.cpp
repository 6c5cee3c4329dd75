#include <catch2/catch.hpp>

#include "common/bytes.h"

namespace hearth {
namespace {

TEST_CASE("hex round-trips and rejects bad input", "[common]") {
  Bytes b = {0x00, 0x7f, 0xff, 0xa5};
  REQUIRE(to_hex(b) == "007fffa5");
  REQUIRE(from_hex("007FFFa5").value() == b);
  REQUIRE_FALSE(from_hex("abc").has_value());
  REQUIRE_FALSE(from_hex("zz").has_value());
}

TEST_CASE("length-prefixed fields are unambiguous", "[common]") {
  Bytes a, b;
  append_lp(a, as_bytes("ab"));
  append_lp(a, as_bytes("c"));
  append_lp(b, as_bytes("a"));
  append_lp(b, as_bytes("bc"));
  REQUIRE(a != b);
  REQUIRE(to_hex(a) == "0000000261620000000163");
}

}  // namespace
}  // namespace hearth
