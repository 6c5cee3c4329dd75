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
// Each file is also gzip-compressed once, at load time, in memory (never on
// disk, so the hash over the files stays the truth): the copy is kept when it
// saves at least kMinGzipSavingPercent, and served to a client whose
// Accept-Encoding allows gzip (accepts_gzip()). The output is deterministic:
// no name or time in the gzip header.
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
  // `body` gzip-compressed (RFC 1952), or empty when that saves less than
  // StaticSite::kMinGzipSavingPercent (an image, a tiny file).
  std::string gzip_body;
};

class StaticSite {
 public:
  // Bounds on what is held in memory: the page is small by design (a byte
  // budget in web/), and a mistaken root (a home directory) must fail start-up
  // with a clear message rather than fill memory.
  static constexpr std::size_t kMaxTotalBytes = 8 * 1024 * 1024;
  static constexpr std::size_t kMaxFiles = 1024;
  static constexpr int kMaxDepth = 8;
  // A compressed copy is kept only when it is at least this much smaller, so
  // the copies hold at most 90 % of kMaxTotalBytes more.
  static constexpr std::size_t kMinGzipSavingPercent = 10;
  // The least response-body bytes a keep-alive connection may take before it
  // is closed (web.max_bytes_per_connection's floor; without a site, the cap).
  static constexpr std::size_t kMinBytesPerConnection = 64 * 1024;

  // Loads every file under `root` (itself may be a symbolic link to a
  // directory). Errors start with "web.root: " and name the offending file by
  // its path relative to the root: kNotFound (no such directory, no
  // index.html), kInvalidArgument (a link, a special file, a bad name or
  // extension), kLimitExceeded (past kMaxFiles, kMaxTotalBytes or kMaxDepth),
  // kUnavailable (cannot be read). A file that cannot be compressed is served
  // as it is (not an error).
  static Result<StaticSite> load(const std::filesystem::path& root,
                                 std::size_t max_total_bytes = kMaxTotalBytes);

  // The file a request target names, or nullptr: "/" is "/index.html"; a
  // query string ("?...") is ignored; anything else must match exactly.
  const StaticFile* find(std::string_view target) const;

  std::size_t file_count() const { return files_.size(); }
  std::size_t total_bytes() const { return total_bytes_; }
  // Bytes held by the compressed copies (on top of total_bytes()).
  std::size_t gzip_bytes() const { return gzip_bytes_; }
  // The default for web.max_bytes_per_connection: twice the whole site
  // uncompressed plus kMinBytesPerConnection (for 404s and /healthz). A
  // browser loads every file twice on one connection (a reload included)
  // before it is reached, with or without gzip; a client asking for the same
  // big file over and over is cut off after a couple of copies.
  std::size_t default_bytes_per_connection() const;
  // The site hash: 32 bytes, SHA-256 of the manifest.
  const Bytes& hash() const { return hash_; }
  // Files in manifest order (by path, bytewise).
  std::vector<const StaticFile*> files() const;

 private:
  std::map<std::string, StaticFile, std::less<>> files_;  // by path
  std::size_t total_bytes_ = 0;
  std::size_t gzip_bytes_ = 0;
  Bytes hash_;
};

// The content type served for a file name's extension, or empty when the
// extension is not one hearthd serves.
std::string_view content_type_for(std::string_view name);

// True when an Accept-Encoding field value (several fields joined with ',')
// lets the response be gzip-compressed (RFC 9110 12.5.3): `gzip` (or `x-gzip`)
// with a weight above 0, or else `*` with a weight above 0. Codings and `q`
// are case-insensitive; `q=0` (or a weight that does not parse) means no, and
// an explicit gzip;q=0 wins over `*`. An empty value means no.
bool accepts_gzip(std::string_view accept_encoding);

// The headers every response on the public listener carries (pages, 404s,
// /healthz): no caching, a strict Content-Security-Policy, no referrer, no
// sniffing, isolation from other origins, no powerful features.
const std::vector<std::pair<std::string_view, std::string_view>>& public_response_headers();

}  // namespace hearth::server
