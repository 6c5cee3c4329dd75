// Parsing and validating the organisation's directory file (directory.h).
// Every refusal names its field, as triage/rules.cpp does for routing rules.
#include "clients/lib/directory.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include <nlohmann/json.hpp>

#include "clients/lib/client_formats.h"
#include "protocol/json_fields.h"

namespace hearth::client {
namespace {

using json = nlohmann::json;

constexpr std::int64_t kDirectoryVersion = 1;

using json_fields::at;
using json_fields::check_object;
using json_fields::is_language;
Status bad(std::string_view field, std::string_view what) {
  return json_fields::field_error(field, what);
}

bool is_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxDirectoryIdBytes) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Text shown on the responder's screen and sent to survivors: UTF-8, no
// control characters (a line break or an escape sequence would garble both
// screens), 1..max bytes.
Result<std::string> get_text(const json& j, const std::string& field, std::size_t max) {
  const std::string rule = "must be text of 1 to " + std::to_string(max) + " bytes";
  if (!j.is_string()) return bad(field, rule);
  const auto& s = j.get_ref<const std::string&>();
  if (s.empty() || s.size() > max) return bad(field, rule);
  if (!is_valid_utf8(s)) return bad(field, "must be UTF-8");
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return bad(field, "must not hold control characters or newlines");
  }
  return s;
}

Result<std::string> get_id(const json& j, const std::string& field) {
  const std::string rule =
      "must be an id of 1 to " + std::to_string(kMaxDirectoryIdBytes) + " of [a-z0-9-]";
  if (!j.is_string() || !is_id(j.get_ref<const std::string&>())) return bad(field, rule);
  return j.get<std::string>();
}

Result<std::string> get_language(const json& j, const std::string& field) {
  if (!j.is_string() || !is_language(j.get_ref<const std::string&>()))
    return bad(field, "must be a two-letter language code (ISO 639-1, lower case)");
  return j.get<std::string>();
}

Result<std::string> get_region(const json& j, const std::string& field) {
  // The same shape as a survivor's region answer (protocol RouteEnvelope).
  if (!j.is_string() || !is_id(j.get_ref<const std::string&>()))
    return bad(field, "must be a region name of 1 to 32 of [a-z0-9-]");
  return j.get<std::string>();
}

Result<CannedResponse> parse_canned(const json& j, const std::string& path) {
  HEARTH_TRY(check_object(j, path, {"id", "title", "text", "language"}, {"id", "title", "text"}));
  CannedResponse c;
  HEARTH_ASSIGN_OR_RETURN(c.id, get_id(j["id"], path + ".id"));
  HEARTH_ASSIGN_OR_RETURN(c.title, get_text(j["title"], path + ".title", kMaxDirectoryTitleBytes));
  HEARTH_ASSIGN_OR_RETURN(c.text, get_text(j["text"], path + ".text", kMaxDirectoryTextBytes));
  if (j.contains("language")) {
    HEARTH_ASSIGN_OR_RETURN(c.language, get_language(j["language"], path + ".language"));
  }
  return c;
}

Result<ReferralCard> parse_referral(const json& j, const std::string& path) {
  HEARTH_TRY(check_object(j, path,
                          {"id", "name", "category", "region", "languages", "contact", "hours"},
                          {"id", "name", "category", "languages", "contact"}));
  ReferralCard r;
  HEARTH_ASSIGN_OR_RETURN(r.id, get_id(j["id"], path + ".id"));
  HEARTH_ASSIGN_OR_RETURN(r.name, get_text(j["name"], path + ".name", kMaxDirectoryTitleBytes));
  const json& category = j["category"];
  std::optional<protocol::Need> need;
  if (category.is_string()) need = protocol::parse_need(category.get_ref<const std::string&>());
  if (!need)
    return bad(path + ".category",
               "must be one of the nine needs (immediate-safety, shelter, medical, counselling, "
               "legal, immigration, work-education, peer-support, culturally-specific)");
  r.category = *need;
  if (j.contains("region")) {
    HEARTH_ASSIGN_OR_RETURN(r.region, get_region(j["region"], path + ".region"));
  }
  const json& languages = j["languages"];
  const std::string lpath = path + ".languages";
  if (!languages.is_array() || languages.empty() || languages.size() > kMaxCardLanguages)
    return bad(lpath,
               "must be a list of 1 to " + std::to_string(kMaxCardLanguages) + " language codes");
  for (std::size_t i = 0; i < languages.size(); ++i) {
    HEARTH_ASSIGN_OR_RETURN(std::string l, get_language(languages[i], at(lpath, i)));
    if (std::find(r.languages.begin(), r.languages.end(), l) != r.languages.end())
      return bad(at(lpath, i), "listed twice");
    r.languages.push_back(std::move(l));
  }
  HEARTH_ASSIGN_OR_RETURN(r.contact,
                          get_text(j["contact"], path + ".contact", kMaxDirectoryTitleBytes * 4));
  if (j.contains("hours")) {
    HEARTH_ASSIGN_OR_RETURN(r.hours,
                            get_text(j["hours"], path + ".hours", kMaxDirectoryTitleBytes));
  }
  return r;
}

Status check_list(const json& j, const std::string& field, std::size_t max) {
  if (!j.is_array() || j.size() > max)
    return bad(field, "must be a list of at most " + std::to_string(max) + " entries");
  return Status::ok();
}

}  // namespace

const CannedResponse* Directory::find_canned(std::string_view id) const {
  for (const auto& c : canned)
    if (c.id == id) return &c;
  return nullptr;
}

const ReferralCard* Directory::find_referral(std::string_view id) const {
  for (const auto& r : referrals)
    if (r.id == id) return &r;
  return nullptr;
}

Result<Directory> parse_directory(std::string_view text) {
  HEARTH_ASSIGN_OR_RETURN(const json j, json_fields::parse(text, "directory"));
  if (!j.is_object()) return bad("directory", "must be an object");
  HEARTH_TRY(check_object(j, "", {"version", "canned", "referrals"}, {"version"}));
  const json& version = j["version"];
  if (!version.is_number_integer() || version.get<std::int64_t>() != kDirectoryVersion)
    return bad("version", "must be 1");
  Directory d;
  if (j.contains("canned")) {
    const json& list = j["canned"];
    HEARTH_TRY(check_list(list, "canned", kMaxCannedResponses));
    for (std::size_t i = 0; i < list.size(); ++i) {
      HEARTH_ASSIGN_OR_RETURN(CannedResponse c, parse_canned(list[i], at("canned", i)));
      if (d.find_canned(c.id) != nullptr) return bad(at("canned", i) + ".id", "used twice");
      d.canned.push_back(std::move(c));
    }
  }
  if (j.contains("referrals")) {
    const json& list = j["referrals"];
    HEARTH_TRY(check_list(list, "referrals", kMaxReferralCards));
    for (std::size_t i = 0; i < list.size(); ++i) {
      HEARTH_ASSIGN_OR_RETURN(ReferralCard r, parse_referral(list[i], at("referrals", i)));
      if (d.find_referral(r.id) != nullptr) return bad(at("referrals", i) + ".id", "used twice");
      d.referrals.push_back(std::move(r));
    }
  }
  return d;
}

Result<Directory> load_directory(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(Code::kNotFound, "cannot read the directory file");
  std::string text;
  text.reserve(4096);
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxDirectoryFileBytes)
      return error(Code::kLimitExceeded, "the directory file is larger than 1 MiB");
  }
  return parse_directory(text);
}

std::vector<const ReferralCard*> matching_referrals(const Directory& directory,
                                                    const protocol::RouteEnvelope& envelope) {
  std::vector<const ReferralCard*> out;
  for (const auto& card : directory.referrals) {
    if (std::find(envelope.needs.begin(), envelope.needs.end(), card.category) ==
        envelope.needs.end())
      continue;
    if (card.region && envelope.region && *card.region != *envelope.region) continue;
    const bool shared = std::any_of(card.languages.begin(), card.languages.end(), [&](auto& l) {
      return std::find(envelope.languages.begin(), envelope.languages.end(), l) !=
             envelope.languages.end();
    });
    if (!shared) continue;
    out.push_back(&card);
  }
  return out;
}

std::string render_referral(const ReferralCard& card) {
  std::string out =
      "Referral: " + card.name + " (" + std::string(protocol::need_name(card.category));
  if (card.region) out += ", " + *card.region;
  out += "). Languages: ";
  for (std::size_t i = 0; i < card.languages.size(); ++i)
    out += (i ? ", " : "") + card.languages[i];
  // A sentence ends once, whether or not the admin wrote the full stop.
  auto sentence = [](const std::string& text) {
    const char last = text.back();
    return last == '.' || last == '!' || last == '?' ? text : text + ".";
  };
  out += ". Contact: " + sentence(card.contact);
  if (card.hours) out += " Hours: " + sentence(*card.hours);
  return out;
}

}  // namespace hearth::client
