// StaticSite: what is loaded from web.root, how a target finds a file, and the
// site hash (checked against an independent implementation of the manifest in
// docs/operations.md "The page's hash").
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/static_site.h"
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

TEST_CASE("the site hash is SHA-256 of the documented manifest", "[server]") {
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

TEST_CASE("a target finds a file by its exact path only", "[server]") {
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

TEST_CASE("content types by extension; unknown ones are not served", "[server]") {
  CHECK(content_type_for("a.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("a.mjs") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("a.wasm") == "application/wasm");
  CHECK(content_type_for("site.webmanifest") == "application/manifest+json");
  CHECK(content_type_for("favicon.ico") == "image/x-icon");
  CHECK(content_type_for("a.map").empty());
  CHECK(content_type_for("html").empty());
  CHECK(content_type_for(".js").empty());
}

TEST_CASE("the size bound and a special file fail the load", "[server]") {
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

}  // namespace
}  // namespace hearth::server
