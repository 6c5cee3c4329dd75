// StaticSite: the survivor's page (web/), loaded once from `web.root` at
// start-up and served from memory on the public listener
// (docs/operations.md, "The survivor's page").
//
// What is served is exactly what was loaded: regular files only, found by
// walking the directory without following a symbolic link (a link anywhere
// below the root is a start-up error, so nothing outside it can be served),
// named with [A-Za-z0-9._-] only and not starting with '.', with a known
// extension (which gives the content type), at most kMaxFiles files and
// kMaxTotalBytes in all, and an index.html at the top. A request's target
// (the query string dropped) matches a file's path exactly or not at all:
// there is no decoding, no directory listing, no `..` to resolve.
//
// hash() is the site's SHA-256 over a canonical manifest (docs/operations.md
// "The page's hash"): `hearth-admin web-hash` prints it from a directory and
// hearthd logs it at start-up, so an org can publish it and check it.
//
// Thread safety: immutable after load(); any thread may find() at once.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace hearth::server {

struct StaticFile {
  std::string path;          // relative to the root, '/'-separated: "i18n/ar.json"
  std::string content_type;  // from the extension
  std::string body;
};

class StaticSite {
 public:
  // Bounds on what is held in memory: the page is small by design (a byte
  // budget in web/), and a mistaken root (a home directory) must fail start-up
  // with a clear message rather than fill memory.
  static constexpr std::size_t kMaxTotalBytes = 8 * 1024 * 1024;
  static constexpr std::size_t kMaxFiles = 1024;
  static constexpr int kMaxDepth = 8;

  // Loads every file under `root` (itself may be a symbolic link to a
  // directory). Errors start with "web.root: " and name the offending file by
  // its path relative to the root: kNotFound (no such directory, no
  // index.html), kInvalidArgument (a link, a special file, a bad name or
  // extension), kLimitExceeded (past kMaxFiles, kMaxTotalBytes or kMaxDepth),
  // kUnavailable (cannot be read).
  static Result<StaticSite> load(const std::filesystem::path& root,
                                 std::size_t max_total_bytes = kMaxTotalBytes);

  // The file a request target names, or nullptr: "/" is "/index.html"; a
  // query string ("?...") is ignored; anything else must match exactly.
  const StaticFile* find(std::string_view target) const;

  std::size_t file_count() const { return files_.size(); }
  std::size_t total_bytes() const { return total_bytes_; }
  // The site hash: 32 bytes, SHA-256 of the manifest.
  const Bytes& hash() const { return hash_; }
  // Files in manifest order (by path, bytewise).
  std::vector<const StaticFile*> files() const;

 private:
  std::map<std::string, StaticFile, std::less<>> files_;  // by path
  std::size_t total_bytes_ = 0;
  Bytes hash_;
};

// The content type served for a file name's extension, or empty when the
// extension is not one hearthd serves.
std::string_view content_type_for(std::string_view name);

// The headers every response on the public listener carries (pages, 404s,
// /healthz): no caching, a strict Content-Security-Policy, no referrer, no
// sniffing, isolation from other origins, no powerful features.
const std::vector<std::pair<std::string_view, std::string_view>>& public_response_headers();

}  // namespace hearth::server
