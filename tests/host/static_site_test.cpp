// StaticSite: what is loaded from web.root, how a target finds a file, the
// site hash (checked against an independent implementation of the manifest in
// docs/operations.md "The page's hash"), the compressed copies (inflated here
// with zlib and compared with the files), Accept-Encoding, and the default
// cap on a connection's response bytes.
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "host/config.h"
#include "host/static_site.h"
#include "tests/support/gzip.h"
#include "tests/support/test_support.h"

namespace hearth::server {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

struct SmallSite {
  test::TempDir dir;
  SmallSite() {
    write(dir.path() / "index.html", "<p>hi</p>\n");
    write(dir.path() / "app.js", "x\n");
    write(dir.path() / "i18n" / "ar.json", "{}");
  }
};

TEST_CASE("the site hash is SHA-256 of the documented manifest", "[host]") {
  SmallSite site;
  auto loaded = StaticSite::load(site.dir.path());
  REQUIRE(loaded.is_ok());
  CHECK(loaded->file_count() == 3);
  CHECK(loaded->total_bytes() == 14);
  // Python's hashlib over b"hearth-web-site-v1\n" + for each path, sorted:
  // u32be(len(path)) + path + u64be(len(body)) + body.
  CHECK(to_hex(loaded->hash()) ==
        "38ba13212509f81502ddbd7f8004c6d0e22159b0cc796240b29a1df81f2fea81");

  // One changed byte, one renamed file, one empty file: each a new hash.
  write(site.dir.path() / "app.js", "y\n");
  auto changed = StaticSite::load(site.dir.path());
  REQUIRE(changed.is_ok());
  CHECK(changed->hash() != loaded->hash());
  write(site.dir.path() / "app.js", "x\n");
  fs::rename(site.dir.path() / "app.js", site.dir.path() / "app2.js");
  auto renamed = StaticSite::load(site.dir.path());
  REQUIRE(renamed.is_ok());
  CHECK(renamed->hash() != loaded->hash());
  fs::rename(site.dir.path() / "app2.js", site.dir.path() / "app.js");
  write(site.dir.path() / "empty.txt", "");
  auto added = StaticSite::load(site.dir.path());
  REQUIRE(added.is_ok());
  CHECK(added->hash() != loaded->hash());
  fs::remove(site.dir.path() / "empty.txt");
  auto again = StaticSite::load(site.dir.path());
  REQUIRE(again.is_ok());
  CHECK(again->hash() == loaded->hash());
}

TEST_CASE("a target finds a file by its exact path only", "[host]") {
  SmallSite site;
  auto loaded = StaticSite::load(site.dir.path());
  REQUIRE(loaded.is_ok());
  auto path_of = [&](std::string_view target) -> std::string {
    const StaticFile* f = loaded->find(target);
    return f == nullptr ? "" : f->path;
  };
  CHECK(path_of("/") == "index.html");
  CHECK(path_of("/?x=1") == "index.html");
  CHECK(path_of("/index.html") == "index.html");
  CHECK(path_of("/i18n/ar.json") == "i18n/ar.json");
  CHECK(path_of("/app.js?v=../../etc/passwd") == "app.js");
  for (const char* bad : {"", "?", "index.html", "//", "/i18n", "/i18n/", "/../index.html",
                          "/./app.js", "/%61pp.js", "/App.js", "/app.js/", "http://h/app.js"}) {
    INFO(bad);
    CHECK(loaded->find(bad) == nullptr);
  }
  CHECK(loaded->find("/app.js")->content_type == "text/javascript; charset=utf-8");
}

TEST_CASE("content types by extension, and unknown ones are not served", "[host]") {
  CHECK(content_type_for("a.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("a.mjs") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("a.wasm") == "application/wasm");
  CHECK(content_type_for("site.webmanifest") == "application/manifest+json");
  CHECK(content_type_for("favicon.ico") == "image/x-icon");
  CHECK(content_type_for("a.map").empty());
  CHECK(content_type_for("html").empty());
  CHECK(content_type_for(".js").empty());
}

TEST_CASE("the size bound and a special file fail the load", "[host]") {
  SmallSite site;
  auto small = StaticSite::load(site.dir.path(), /*max_total_bytes=*/13);
  REQUIRE_FALSE(small.is_ok());
  CHECK(small.status().code() == Code::kLimitExceeded);
  CHECK(StaticSite::load(site.dir.path(), 14).is_ok());
  REQUIRE(::mkfifo((site.dir.path() / "pipe.txt").c_str(), 0600) == 0);
  auto fifo = StaticSite::load(site.dir.path());
  REQUIRE_FALSE(fifo.is_ok());
  CHECK(fifo.status().message() == "web.root: pipe.txt: not a regular file");
}

// The descriptors this process has open.
std::size_t open_descriptors() {
  std::size_t n = 0;
  for (auto it = fs::directory_iterator("/proc/self/fd"); it != fs::directory_iterator(); ++it) ++n;
  return n;
}

TEST_CASE("a site nested too deep is refused without leaking a descriptor", "[host]") {
  SmallSite site;
  fs::path deep = site.dir.path();
  for (int i = 0; i <= StaticSite::kMaxDepth + 1; ++i) deep /= "d";
  write(deep / "x.txt", "x\n");
  const std::size_t before = open_descriptors();
  for (int i = 0; i < 5; ++i) {
    auto loaded = StaticSite::load(site.dir.path());
    REQUIRE_FALSE(loaded.is_ok());
    CHECK(loaded.status().code() == Code::kLimitExceeded);
  }
  // Before the shared Fd, the directory past the limit was opened and never closed.
  CHECK(open_descriptors() == before);
}

using test::gunzip;

// Bytes no compressor can shrink (a deterministic xorshift stream).
std::string noise(std::size_t n) {
  std::string out(n, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 56);
  }
  return out;
}

std::string script(std::size_t lines) {
  std::string out;
  for (std::size_t i = 0; i < lines; ++i)
    out += "export function step" + std::to_string(i) + "(x) { return x * " +
           std::to_string(i % 17) + " + 1; }\n";
  return out;
}

TEST_CASE("text files get a compressed copy that inflates to the file, made deterministically",
          "[host]") {
  test::TempDir dir;
  const std::string js = script(2000);
  const std::string css = "body { margin: 0; padding: 0 }\n.a { color: red }\n" + script(20);
  write(dir.path() / "index.html", "<!doctype html><p>" + std::string(400, 'h') + "</p>\n");
  write(dir.path() / "worker.js", js);
  write(dir.path() / "style.css", css);
  write(dir.path() / "i18n" / "en.json", R"({"a": ")" + std::string(300, 'a') + "\"}");
  write(dir.path() / "logo.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\">" + std::string(500, ' ') + "</svg>");
  write(dir.path() / "sodium.wasm", std::string("\0asm\1\0\0\0", 8) + std::string(2000, '\0'));
  auto loaded = StaticSite::load(dir.path());
  REQUIRE(loaded.is_ok());
  std::size_t sum = 0;
  for (const StaticFile* f : loaded->files()) {
    INFO(f->path);
    REQUIRE(!f->gzip_body.empty());
    CHECK(gunzip(f->gzip_body) == f->body);
    // At least 10 % smaller, or it would not have been kept.
    CHECK(f->gzip_body.size() * 10 <= f->body.size() * 9);
    // RFC 1952 header: magic, deflate, no flags (no name, no comment), time 0, OS 255.
    const std::string& g = f->gzip_body;
    CHECK(static_cast<unsigned char>(g[0]) == 0x1f);
    CHECK(static_cast<unsigned char>(g[1]) == 0x8b);
    CHECK(g[2] == 8);
    CHECK(g[3] == 0);
    CHECK(g.substr(4, 4) == std::string(4, '\0'));
    CHECK(static_cast<unsigned char>(g[9]) == 255);
    sum += g.size();
  }
  CHECK(loaded->gzip_bytes() == sum);
  CHECK(loaded->find("/worker.js")->gzip_body.size() < js.size() / 5);
  // The same files give the same bytes on another load.
  auto again = StaticSite::load(dir.path());
  REQUIRE(again.is_ok());
  for (const StaticFile* f : loaded->files())
    CHECK(again->find("/" + f->path)->gzip_body == f->gzip_body);
}

TEST_CASE("no compressed copy when it would not save 10 %: images, noise, tiny files", "[host]") {
  test::TempDir dir;
  write(dir.path() / "index.html", "<p>hi</p>\n");  // gzip's 20 bytes of framing cost more
  write(dir.path() / "config.json", "{}");
  write(dir.path() / "empty.txt", "");
  write(dir.path() / "random.js", noise(20000));
  // PNG is compressed already: not even tried, however compressible the bytes.
  write(dir.path() / "logo.png", "\x89PNG\r\n\x1a\n" + std::string(5000, '\0'));
  write(dir.path() / "app.js", script(100));
  auto loaded = StaticSite::load(dir.path());
  REQUIRE(loaded.is_ok());
  for (const char* path : {"/", "/config.json", "/empty.txt", "/random.js", "/logo.png"}) {
    INFO(path);
    CHECK(loaded->find(path)->gzip_body.empty());
  }
  CHECK(!loaded->find("/app.js")->gzip_body.empty());
  CHECK(loaded->gzip_bytes() == loaded->find("/app.js")->gzip_body.size());
  // The hash is over the files on disk: compressing changes nothing in it
  // (the vector of "the site hash is SHA-256 of the documented manifest").
}

TEST_CASE("Accept-Encoding: gzip only when a weight above 0 allows it", "[host]") {
  for (const char* yes : {"gzip",
                          "GZIP",
                          "gzip, deflate, br",
                          "deflate, gzip",
                          "br;q=1.0, gzip;q=0.8",
                          "gzip;q=1",
                          "gzip;q=1.",
                          "gzip;q=1.000",
                          "gzip;q=0.001",
                          "gzip; q=0.5",
                          "gzip ;Q=0.5",
                          "x-gzip",
                          "*",
                          "*;q=0.1",
                          "identity, *",
                          "gzip;q=0.5, *;q=0",
                          "deflate,,gzip",
                          " , gzip ,",
                          "gzip;level=9",
                          "\tgzip\t"}) {
    INFO(yes);
    CHECK(accepts_gzip(yes));
  }
  for (const char* no : {"",
                         " ",
                         "identity",
                         "deflate, br",
                         "gzip;q=0",
                         "gzip;q=0.",
                         "gzip;q=0.000",
                         "gzip;Q=0",
                         "GZIP;q=0, *",
                         "*;q=0",
                         "gzip;q=0, gzip",
                         "gzip;q=2",
                         "gzip;q=1.5",
                         "gzip;q=0.0001",
                         "gzip;q=abc",
                         "gzip;q=",
                         "gzip;q=-1",
                         "gzips",
                         "g zip",
                         "gzip2",
                         "identity;q=0",
                         "x-gzip;q=0, *;q=1",
                         ";q=1",
                         "gzip;q=.5",
                         "*, gzip;q=0"}) {
    INFO(no);
    CHECK_FALSE(accepts_gzip(no));
  }
}

TEST_CASE("the cap on a connection's response bytes: default and web.max_bytes_per_connection",
          "[host]") {
  SmallSite small;
  auto tiny = StaticSite::load(small.dir.path());
  REQUIRE(tiny.is_ok());
  CHECK(tiny->default_bytes_per_connection() == 2 * 14 + StaticSite::kMinBytesPerConnection);
  write(small.dir.path() / "worker.js", script(3000));
  auto big = StaticSite::load(small.dir.path());
  REQUIRE(big.is_ok());
  CHECK(big->default_bytes_per_connection() ==
        2 * big->total_bytes() + StaticSite::kMinBytesPerConnection);

  const std::string base = R"({"data_dir":"d","org_root_key":")" + std::string(64, 'a') +
                           R"(","roster_file":"r","web":{"root":"w")";
  auto absent = parse_config(base + "}}", "/etc/hearth");
  REQUIRE(absent.is_ok());
  CHECK(!absent->web_max_bytes_per_connection.has_value());
  auto set = parse_config(base + R"(,"max_bytes_per_connection":2000000}})", "/etc/hearth");
  REQUIRE(set.is_ok());
  CHECK(set->web_max_bytes_per_connection == 2000000u);
  for (const char* bad : {"65535", "1073741825", "-1", "\"1MB\"", "1.5"}) {
    INFO(bad);
    auto c = parse_config(base + ",\"max_bytes_per_connection\":" + bad + "}}", "/etc/hearth");
    REQUIRE_FALSE(c.is_ok());
    CHECK(c.status().message().find("web.max_bytes_per_connection") != std::string::npos);
  }
}

}  // namespace
}  // namespace hearth::server
