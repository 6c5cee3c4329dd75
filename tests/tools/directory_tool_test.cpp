// `hearth-admin directory validate`: the shipped example passes with its
// counts; a bad file fails with exit code 1 and the field named.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "tests/integration/support/tool_run.h"
#include "tests/support/test_support.h"

using Catch::Matchers::Contains;
using hearth::test::run_tool;

TEST_CASE("hearth-admin directory validate: the example, and a bad file", "[tools]") {
  const std::string example = (hearth::test::docs_dir() / "examples/directory.json").string();
  auto ok = run_tool(HEARTH_ADMIN_PATH, {"directory", "validate", example});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out == "ok: 4 canned responses, 4 referral cards\n");

  hearth::test::TempDir tmp;
  const std::string bad = (tmp.path() / "bad.json").string();
  {
    std::ofstream out(bad);
    out << R"({"version": 1, "referrals": [{"id": "x", "name": "X", "category": "legal",
               "languages": ["en", "EN"], "contact": "c"}]})";
  }
  auto refused = run_tool(HEARTH_ADMIN_PATH, {"directory", "validate", bad});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err,
             Contains("referrals[0].languages[1]: must be a two-letter language code"));
  auto missing = run_tool(HEARTH_ADMIN_PATH, {"directory", "validate", bad + ".none"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Contains("cannot read the directory file"));
  CHECK(run_tool(HEARTH_ADMIN_PATH, {"directory", "validate"}).exit_code == 2);
}
