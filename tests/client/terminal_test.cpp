// The CLIs' terminal helpers: peer text cannot drive the terminal.
#include <catch2/catch.hpp>

#include <string>

#include "clients/cli/terminal.h"

namespace hearth::cli {
namespace {

TEST_CASE("printable replaces every control character a peer could send", "[client]") {
  REQUIRE(printable("hola, ¿cómo estás? 你好") == "hola, ¿cómo estás? 你好");
  REQUIRE(printable("a\x1b[2Jb") == "a?[2Jb");                  // ESC: clear screen
  REQUIRE(printable("line\nforged: hi") == "line?forged: hi");  // a fake second line
  REQUIRE(printable("x\ry\t\x7f") == "x?y??");
  REQUIRE(printable("\xc2\x9b"
                    "31m") == "?31m");           // C1 CSI, UTF-8 encoded
  REQUIRE(printable("\xc2\xa0") == "\xc2\xa0");  // U+00A0 is not a control
  REQUIRE(printable(std::string("a\0b", 3)) == "a?b");
  REQUIRE(printable("\xc2") == "\xc2");  // a truncated sequence is left alone, never read past
}

}  // namespace
}  // namespace hearth::cli
