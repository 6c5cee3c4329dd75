#include "host/static_site.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <optional>

#include "common/fd.h"
#include "crypto/hash.h"

namespace hearth::server {

namespace {

// docs/operations.md "The page's hash": the manifest starts with this line.
constexpr std::string_view kManifestMagic = "hearth-web-site-v1\n";
constexpr std::size_t kMaxNameBytes = 128;

Status site_error(Code code, std::string_view relative, std::string_view what) {
  std::string message = "web.root: ";
  if (!relative.empty()) message += std::string(relative) + ": ";
  return error(code, message + std::string(what));
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || name.front() == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string join(std::string_view prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : std::string(prefix) + "/" + std::string(name);
}

// `data` gzip-compressed (RFC 1952) at zlib's best level, or empty on a
// failure. Deterministic for a given zlib: the header carries no name, no
// comment, time 0 and OS 255 ("unknown"), so the same file gives the same
// bytes on every start and every host.
std::string gzip(std::string_view data) {
  if (data.size() > StaticSite::kMaxTotalBytes) return {};  // fits zlib's uInt
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16 /* gzip wrapper */, 9,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return {};
  gz_header header{};
  header.os = 255;
  std::string out;
  if (deflateSetHeader(&z, &header) == Z_OK) {
    out.resize(deflateBound(&z, static_cast<uLong>(data.size())));
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
      out.resize(z.total_out);
    } else {
      out.clear();
    }
  }
  deflateEnd(&z);
  out.shrink_to_fit();
  return out;
}

// The compressed copy worth keeping, or empty: PNG is compressed already; any
// other file keeps its copy when it saves kMinGzipSavingPercent or more.
std::string compressed_copy(std::string_view type, std::string_view body) {
  if (type == "image/png" || body.empty()) return {};
  std::string packed = gzip(body);
  if (packed.empty() ||
      packed.size() * 100 > body.size() * (100 - StaticSite::kMinGzipSavingPercent))
    return {};
  return packed;
}

// OWS (RFC 9110 5.6.3) trimmed from both ends.
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

// A qvalue (RFC 9110 12.4.2: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]) in
// thousandths, or nothing when it does not parse.
std::optional<int> parse_qvalue(std::string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return std::nullopt;
  int whole = q[0] - '0';
  if (q.size() == 1) return whole * 1000;
  if (q[1] != '.' || q.size() > 5) return std::nullopt;
  int thousandths = 0;
  int scale = 100;
  for (char c : q.substr(2)) {
    if (c < '0' || c > '9') return std::nullopt;
    thousandths += (c - '0') * scale;
    scale /= 10;
  }
  if (whole == 1 && thousandths != 0) return std::nullopt;
  return whole * 1000 + thousandths;
}

struct Loader {
  std::size_t max_total_bytes;
  std::map<std::string, StaticFile, std::less<>> files;
  std::size_t total = 0;
  std::size_t gzip_total = 0;

  // Reads `name` (a regular file, opened without following a link) in `dir`.
  Status read_file(int dir, const std::string& name, const std::string& relative) {
    std::string_view type = content_type_for(name);
    if (type.empty())
      return site_error(Code::kInvalidArgument, relative,
                        "extension not served (html, js, mjs, css, json, wasm, svg, png, ico, "
                        "txt, webmanifest)");
    if (files.size() >= StaticSite::kMaxFiles)
      return site_error(Code::kLimitExceeded, relative,
                        "more than " + std::to_string(StaticSite::kMaxFiles) + " files");
    Fd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) return site_error(Code::kUnavailable, relative, "cannot be opened");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      return site_error(Code::kInvalidArgument, relative, "not a regular file");
    auto size = static_cast<std::size_t>(st.st_size);
    if (size > max_total_bytes || total + size > max_total_bytes)
      return site_error(Code::kLimitExceeded, relative,
                        "the site is larger than " + std::to_string(max_total_bytes) + " bytes");
    std::string body(size, '\0');
    std::size_t got = 0;
    while (got < size) {
      ssize_t n = ::read(fd.get(), body.data() + got, size - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return site_error(Code::kUnavailable, relative, "short read");
      got += static_cast<std::size_t>(n);
    }
    total += size;
    std::string packed = compressed_copy(type, body);
    gzip_total += packed.size();
    files.emplace(relative,
                  StaticFile{relative, std::string(type), std::move(body), std::move(packed)});
    return Status::ok();
  }

  // Walks the open directory `dir_fd` whose path is `prefix`.
  Status walk(Fd dir_fd, const std::string& prefix, int depth) {
    if (depth > StaticSite::kMaxDepth)
      return site_error(Code::kLimitExceeded, prefix,
                        "nested deeper than " + std::to_string(StaticSite::kMaxDepth));
    DIR* dir = ::fdopendir(dir_fd.get());
    if (dir == nullptr) return site_error(Code::kUnavailable, prefix, "directory cannot be read");
    dir_fd.release();  // closedir() closes it
    std::vector<std::string> names;
    errno = 0;
    while (dirent* entry = ::readdir(dir)) {
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
    int read_errno = errno;
    Status st = Status::ok();
    if (read_errno != 0) st = site_error(Code::kUnavailable, prefix, "directory cannot be read");
    for (std::size_t i = 0; st.is_ok() && i < names.size(); ++i) {
      const std::string& name = names[i];
      std::string relative = join(prefix, name);
      if (!valid_name(name)) {
        st = site_error(Code::kInvalidArgument, relative,
                        "names may hold only A-Z a-z 0-9 . _ - and not start with '.'");
        break;
      }
      struct stat link {};
      if (::fstatat(::dirfd(dir), name.c_str(), &link, AT_SYMLINK_NOFOLLOW) != 0) {
        st = site_error(Code::kUnavailable, relative, "cannot be read");
      } else if (S_ISLNK(link.st_mode)) {
        // A link could point outside the root: refused, not followed.
        st = site_error(Code::kInvalidArgument, relative, "a symbolic link (not served)");
      } else if (S_ISDIR(link.st_mode)) {
        Fd sub(
            ::openat(::dirfd(dir), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        st = !sub.valid() ? site_error(Code::kUnavailable, relative, "directory cannot be opened")
                          : walk(std::move(sub), relative, depth + 1);
      } else if (S_ISREG(link.st_mode)) {
        st = read_file(::dirfd(dir), name, relative);
      } else {
        st = site_error(Code::kInvalidArgument, relative, "not a regular file");
      }
    }
    ::closedir(dir);
    return st;
  }
};

void append_be(Bytes& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// SHA-256 over the manifest, fed in parts: the bodies are not copied.
Bytes site_hash(const std::map<std::string, StaticFile, std::less<>>& files) {
  std::vector<Bytes> heads;
  heads.reserve(files.size());
  std::vector<ByteView> parts;
  parts.reserve(1 + 2 * files.size());
  parts.push_back(as_bytes(kManifestMagic));
  for (const auto& [path, file] : files) {
    Bytes head;
    append_be(head, path.size(), 4);
    head.insert(head.end(), path.begin(), path.end());
    append_be(head, file.body.size(), 8);
    heads.push_back(std::move(head));
  }
  std::size_t i = 0;
  for (const auto& [path, file] : files) {
    parts.emplace_back(heads[i++]);
    parts.push_back(as_bytes(file.body));
  }
  return crypto::sha256(parts);
}

}  // namespace

std::string_view content_type_for(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".wasm", "application/wasm"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  }};
  for (const auto& [extension, type] : kTypes) {
    if (name.size() > extension.size() && name.ends_with(extension)) return type;
  }
  return {};
}

const std::vector<std::pair<std::string_view, std::string_view>>& public_response_headers() {
  // 'self' in connect-src covers the page's own ws:// and wss:// origin (CSP
  // Level 3; checked in Chromium 156, docs/operations.md): no Host header is
  // copied into it.
  static const std::vector<std::pair<std::string_view, std::string_view>> headers{
      {"Cache-Control", "no-store"},
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
       "style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; "
       "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Content-Type-Options", "nosniff"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      {"Permissions-Policy",
       "camera=(), microphone=(), geolocation=(), display-capture=(), usb=(), serial=(), "
       "hid=(), midi=(), payment=(), publickey-credentials-get=(), "
       "screen-wake-lock=(), xr-spatial-tracking=(), accelerometer=(), gyroscope=(), "
       "magnetometer=(), browsing-topics=(), interest-cohort=()"},
      {"X-Frame-Options", "DENY"},
  };
  return headers;
}

Result<StaticSite> StaticSite::load(const std::filesystem::path& root,
                                    std::size_t max_total_bytes) {
  // The root itself may be a link (a deploy switching versions); below it, no link is followed.
  Fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid())
    return site_error(errno == ENOENT ? Code::kNotFound : Code::kUnavailable, "",
                      "not a readable directory: " + root.string());
  Loader loader{max_total_bytes, {}, 0, 0};
  HEARTH_TRY(loader.walk(std::move(fd), "", 0));
  if (loader.files.find(std::string_view("index.html")) == loader.files.end())
    return site_error(Code::kNotFound, "", "no index.html at the top of " + root.string());
  StaticSite site;
  site.files_ = std::move(loader.files);
  site.total_bytes_ = loader.total;
  site.gzip_bytes_ = loader.gzip_total;
  site.hash_ = site_hash(site.files_);
  return site;
}

const StaticFile* StaticSite::find(std::string_view target) const {
  target = target.substr(0, target.find('?'));
  if (target == "/") target = "/index.html";
  if (target.size() < 2 || target.front() != '/') return nullptr;
  auto it = files_.find(target.substr(1));
  return it == files_.end() ? nullptr : &it->second;
}

std::size_t StaticSite::default_bytes_per_connection() const {
  return 2 * total_bytes_ + kMinBytesPerConnection;
}

bool accepts_gzip(std::string_view accept_encoding) {
  std::optional<bool> gzip;  // an explicit gzip or x-gzip: acceptable or not
  std::optional<bool> any;   // `*`
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view element = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    std::size_t semicolon = element.find(';');
    std::string_view coding = trim(element.substr(0, semicolon));
    if (coding.empty()) continue;  // "#" lists allow empty elements
    int weight = 1000;
    while (semicolon != std::string_view::npos) {
      element = element.substr(semicolon + 1);
      semicolon = element.find(';');
      std::string_view param = trim(element.substr(0, semicolon));
      std::size_t eq = param.find('=');
      if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "q")) continue;
      // A weight that does not parse counts as "not acceptable": identity is
      // always a safe answer.
      weight = parse_qvalue(trim(param.substr(eq + 1))).value_or(0);
    }
    bool acceptable = weight > 0;
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) {
      gzip = gzip.value_or(true) && acceptable;  // one q=0 is enough to refuse
    } else if (coding == "*") {
      any = any.value_or(true) && acceptable;
    }
  }
  if (gzip) return *gzip;
  return any.value_or(false);
}

std::vector<const StaticFile*> StaticSite::files() const {
  std::vector<const StaticFile*> out;
  out.reserve(files_.size());
  for (const auto& [path, file] : files_) out.push_back(&file);
  return out;
}

}  // namespace hearth::server
