#include <catch2/catch.hpp>

#include <array>

#include "common/byte_reader.h"

namespace hearth {
namespace {

struct Four {
  std::array<std::uint8_t, 4> bytes{};
  static Result<Four> from(ByteView b) {
    Four f;
    std::copy(b.begin(), b.end(), f.bytes.begin());
    return f;
  }
};

TEST_CASE("ByteReader reads exactly what was written and refuses the rest", "[common]") {
  Bytes b;
  append_lp(b, as_bytes("HL1/test"));
  append_u32_be(b, 7);
  append_u64_be(b, 1ull << 40);
  append_lp(b, as_bytes("field"));
  append(b, Bytes{1, 2, 3, 4});

  ByteReader r(b);
  REQUIRE(r.expect_label("HL1/test").is_ok());
  REQUIRE(r.u32().value() == 7);
  REQUIRE(r.u64().value() == 1ull << 40);
  REQUIRE(r.lp_string(16).value() == "field");
  REQUIRE(r.read<Four>()->bytes == std::array<std::uint8_t, 4>{1, 2, 3, 4});
  REQUIRE(r.finish().is_ok());
  REQUIRE(r.u8().status().code() == Code::kInvalidArgument);  // nothing left

  ByteReader wrong_label(b);
  REQUIRE(wrong_label.expect_label("HL1/other").code() == Code::kInvalidArgument);
  ByteReader too_long(b);
  REQUIRE(too_long.lp(3).status().code() == Code::kInvalidArgument);  // "HL1/test" > 3 bytes
  for (std::size_t n = 0; n < b.size(); ++n) {
    ByteReader cut(ByteView(b).first(n));
    bool ok = cut.expect_label("HL1/test").is_ok() && cut.u32().is_ok() && cut.u64().is_ok() &&
              cut.lp(16).is_ok() && cut.read<Four>().is_ok();
    REQUIRE_FALSE(ok);
  }
  ByteReader extra(b);
  REQUIRE(extra.expect_label("HL1/test").is_ok());
  REQUIRE(extra.finish().code() == Code::kInvalidArgument);  // trailing bytes
}

}  // namespace
}  // namespace hearth
