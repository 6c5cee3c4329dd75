// Directory: the organisation's directory file, read by hearth-console — canned
// responses a responder can insert and edit before sending, and referral cards
// (partner services by category, region and language) sent to a survivor as a
// readable message. The format is docs/hearth-console.md "The directory file".
//
// The file comes from the organisation's admin, who can make mistakes: it is
// parsed without exceptions, unknown fields are refused, and every refusal
// names its field ("referrals[2].languages[0]: must be a two-letter code"), so
// `hearth-admin directory validate FILE` tells the admin what to fix.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "protocol/messages.h"

namespace hearth::client {

// Bounds, so a directory file cannot make the console slow or huge.
inline constexpr std::size_t kMaxDirectoryFileBytes = 1024 * 1024;
inline constexpr std::size_t kMaxCannedResponses = 500;
inline constexpr std::size_t kMaxReferralCards = 1000;
inline constexpr std::size_t kMaxCardLanguages = 16;
inline constexpr std::size_t kMaxDirectoryIdBytes = 32;
inline constexpr std::size_t kMaxDirectoryTitleBytes = 120;
// A canned text or a card is sent as one message; the protocol caps messages
// far above this.
inline constexpr std::size_t kMaxDirectoryTextBytes = 2000;

struct CannedResponse {
  std::string id;                       // [a-z0-9-]{1,32}, unique among canned responses
  std::string title;                    // shown in the list
  std::string text;                     // inserted into the compose line
  std::optional<std::string> language;  // two-letter code, if it is in one language
};

struct ReferralCard {
  std::string id;                      // [a-z0-9-]{1,32}, unique among referral cards
  std::string name;                    // the partner service
  protocol::Need category;             // one of the nine triage needs
  std::optional<std::string> region;   // absent: serves every region
  std::vector<std::string> languages;  // two-letter codes, at least one
  std::string contact;                 // how to reach them (phone, address, ...)
  std::optional<std::string> hours;    // when they answer
};

struct Directory {
  std::vector<CannedResponse> canned;
  std::vector<ReferralCard> referrals;

  const CannedResponse* find_canned(std::string_view id) const;
  const ReferralCard* find_referral(std::string_view id) const;
};

// Parses a directory file's text. kInvalidArgument with "FIELD: what is
// wrong" for anything malformed (not JSON, an unknown or missing field, a
// value out of its bounds, a duplicate id).
Result<Directory> parse_directory(std::string_view text);
// Reads and parses the file at `path`. kNotFound: no such file;
// kLimitExceeded: larger than kMaxDirectoryFileBytes; else as parse_directory.
Result<Directory> load_directory(const std::string& path);

// The referral cards that fit a case: the category is one of the case's
// needs, the card serves the case's region (or every region; a case without a
// region matches every card), and it shares a language with the survivor.
// In file order.
std::vector<const ReferralCard*> matching_referrals(const Directory& directory,
                                                    const protocol::RouteEnvelope& envelope);

// The card as one line of plain text for the survivor, e.g.
// "Referral: Casa Segura (shelter, north). Languages: es, en. Contact: ...
// Hours: ...".
std::string render_referral(const ReferralCard& card);

}  // namespace hearth::client
