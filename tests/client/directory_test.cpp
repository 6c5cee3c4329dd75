// The organisation's directory file: the shipped example parses; every bad
// file is refused with a message naming its field; referral matching and the
// card a survivor sees.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "clients/lib/directory.h"
#include "tests/support/test_support.h"

namespace hearth::client {
namespace {

// The example shipped in docs/.
const std::string kExample = (test::docs_dir() / "examples/directory.json").string();

std::string refusal(const std::string& text) {
  auto d = parse_directory(text);
  REQUIRE_FALSE(d.is_ok());
  CHECK(d.status().code() == Code::kInvalidArgument);
  return d.status().message();
}

// A valid referral card with one field replaced (or added).
std::string with_card(const std::string& field, const std::string& value) {
  std::string card = R"({"id": "x", "name": "X", "category": "shelter", "languages": ["en"],
                         "contact": "call 1")";
  card += ", \"" + field + "\": " + value + "}";
  return R"({"version": 1, "referrals": [)" + card + "]}";
}

TEST_CASE("the shipped example directory parses", "[client]") {
  auto d = load_directory(kExample);
  REQUIRE(d.is_ok());
  CHECK(d->canned.size() == 4);
  CHECK(d->referrals.size() == 4);
  REQUIRE(d->find_canned("welcome-es") != nullptr);
  CHECK(d->find_canned("welcome-es")->language == "es");
  REQUIRE(d->find_referral("casa-segura") != nullptr);
  CHECK(d->find_referral("casa-segura")->category == protocol::Need::kShelter);
  CHECK(d->find_referral("nope") == nullptr);
}

TEST_CASE("a minimal directory: only the version", "[client]") {
  auto d = parse_directory(R"({"version": 1})");
  REQUIRE(d.is_ok());
  CHECK(d->canned.empty());
  CHECK(d->referrals.empty());
}

TEST_CASE("bad directory files are refused with the field named", "[client]") {
  CHECK(refusal("{") == "directory: not valid JSON");
  CHECK(refusal("[]") == "directory: must be an object");
  CHECK(refusal("{}") == "version: missing");
  CHECK(refusal(R"({"version": 2})") == "version: must be 1");
  CHECK(refusal(R"({"version": 1, "extra": 0})") == "extra: unknown field");
  CHECK(refusal(R"({"version": 1, "canned": {}})") ==
        "canned: must be a list of at most 500 entries");
  CHECK(refusal(R"({"version": 1, "canned": [{"id": "a", "title": "A"}]})") ==
        "canned[0].text: missing");
  CHECK(refusal(R"({"version": 1, "canned": [{"id": "A!", "title": "A", "text": "t"}]})") ==
        "canned[0].id: must be an id of 1 to 32 of [a-z0-9-]");
  CHECK(refusal(R"({"version": 1, "canned": [{"id": "a", "title": "", "text": "t"}]})") ==
        "canned[0].title: must be text of 1 to 120 bytes");
  CHECK(refusal(R"({"version": 1, "canned": [{"id": "a", "title": "A", "text": "t\nu"}]})") ==
        "canned[0].text: must not hold control characters or newlines");
  CHECK(refusal("{\"version\": 1, \"canned\": [{\"id\": \"a\", \"title\": \"A\", \"text\": "
                "\"\xff\"}]}") == "directory: not valid JSON");
  CHECK(refusal(R"({"version": 1, "canned": [{"id": "a", "title": "A", "text": "t",
                    "language": "eng"}]})") ==
        "canned[0].language: must be a two-letter language code (ISO 639-1, lower case)");
  CHECK(refusal(R"({"version": 1, "canned": [{"id": "a", "title": "A", "text": "t"},
                                            {"id": "a", "title": "B", "text": "u"}]})") ==
        "canned[1].id: used twice");
  CHECK(refusal(R"({"version": 1, "canned": [{"id": "a", "title": "A", "text": "t", "x": 1}]})") ==
        "canned[0].x: unknown field");

  CHECK(refusal(with_card("hours", "\"\"")) ==
        "referrals[0].hours: must be text of 1 to 120 bytes");
  CHECK(refusal(with_card("region", "\"North\"")) ==
        "referrals[0].region: must be a region name of 1 to 32 of [a-z0-9-]");
  CHECK(refusal(with_card("phone", "\"1\"")) == "referrals[0].phone: unknown field");
  CHECK(refusal(R"({"version": 1, "referrals": [{"id": "x", "name": "X", "category": "food",
                    "languages": ["en"], "contact": "c"}]})") ==
        "referrals[0].category: must be one of the nine needs (immediate-safety, shelter, "
        "medical, counselling, legal, immigration, work-education, peer-support, "
        "culturally-specific)");
  CHECK(refusal(R"({"version": 1, "referrals": [{"id": "x", "name": "X", "category": "legal",
                    "languages": [], "contact": "c"}]})") ==
        "referrals[0].languages: must be a list of 1 to 16 language codes");
  CHECK(refusal(R"({"version": 1, "referrals": [
                    {"id": "x", "name": "X", "category": "legal", "languages": ["en"],
                     "contact": "c"},
                    {"id": "y", "name": "Y", "category": "legal", "languages": ["en"],
                     "contact": "c"},
                    {"id": "z", "name": "Z", "category": "legal", "languages": ["en", "ES"],
                     "contact": "c"}]})") ==
        "referrals[2].languages[1]: must be a two-letter language code (ISO 639-1, lower case)");
  CHECK(refusal(R"({"version": 1, "referrals": [{"id": "x", "name": "X", "category": "legal",
                    "languages": ["en", "en"], "contact": "c"}]})") ==
        "referrals[0].languages[1]: listed twice");
  CHECK(refusal(R"({"version": 1, "referrals": [{"id": "x", "name": "X", "category": "legal",
                    "languages": ["en"]}]})") == "referrals[0].contact: missing");
}

TEST_CASE("load_directory: a missing file, and one too large", "[client]") {
  test::TempDir tmp;
  CHECK(load_directory((tmp.path() / "none.json").string()).status().code() == Code::kNotFound);
  const auto big = tmp.path() / "big.json";
  {
    std::ofstream out(big);
    out << std::string(kMaxDirectoryFileBytes + 1, ' ');
  }
  CHECK(load_directory(big.string()).status().code() == Code::kLimitExceeded);
}

TEST_CASE("referral cards matching a case: need, region, language", "[client]") {
  auto d = parse_directory(R"({"version": 1, "referrals": [
      {"id": "a", "name": "A", "category": "shelter", "region": "north", "languages": ["es"],
       "contact": "c"},
      {"id": "b", "name": "B", "category": "shelter", "languages": ["en"], "contact": "c"},
      {"id": "c", "name": "C", "category": "legal", "region": "south", "languages": ["es", "en"],
       "contact": "c"},
      {"id": "d", "name": "D", "category": "medical", "languages": ["es"], "contact": "c"}]})");
  REQUIRE(d.is_ok());
  auto ids = [&](const protocol::RouteEnvelope& e) {
    std::string out;
    for (const auto* card : matching_referrals(*d, e)) out += card->id;
    return out;
  };
  protocol::RouteEnvelope e;
  e.needs = {protocol::Need::kShelter, protocol::Need::kLegal};
  e.languages = {"es"};
  CHECK(ids(e) == "ac");  // no region given: every region
  e.region = "north";
  CHECK(ids(e) == "a");  // c serves the south only
  e.languages = {"en", "es"};
  CHECK(ids(e) == "ab");
  e.needs = {protocol::Need::kCounselling};
  CHECK(ids(e).empty());
}

TEST_CASE("a referral card renders as one readable line", "[client]") {
  auto d = load_directory(kExample);
  REQUIRE(d.is_ok());
  CHECK(render_referral(*d->find_referral("casa-segura")) ==
        "Referral: Casa Segura shelter (shelter, north). Languages: es, en. Contact: call +1 555 "
        "0100 and ask for the intake desk. Hours: 24 hours.");
  CHECK(render_referral(*d->find_referral("visa-help")) ==
        "Referral: Immigration Rights Project (immigration). Languages: en, fr, ar. Contact: "
        "email help@irp.example.org or call +1 555 0177.");
}

}  // namespace
}  // namespace hearth::client
