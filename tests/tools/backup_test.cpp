// hearth-admin's database commands against a real hearthd and real database
// files: a backup taken while messages flow holds every message acknowledged
// before it began and restores to a database that passes integrity_check;
// restore and purge refuse a running hearthd and a wrong key; stats export
// suppresses small cells.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/case_record.h"
#include "host/config.h"
#include "storage/backup.h"
#include "storage/storage.h"
#include "tests/integration/support/checks.h"
#include "tests/integration/support/flows.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/integration/support/tool_run.h"

namespace hearth::test {
namespace {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

const nlohmann::json kFastSender = {
    {"limits",
     {{"frames_per_second", 10000}, {"frame_burst", 10000}, {"max_pending_per_mailbox", 100000}}}};

server::Config config_of(const HearthdProcess& hearthd) {
  auto config = server::load_config(hearthd.config_path());
  REQUIRE(config.is_ok());
  return std::move(config).value();
}

std::unique_ptr<storage::Storage> open_db(const fs::path& db, const fs::path& key,
                                          bool create = false) {
  storage::StorageOptions options;
  options.database_path = db;
  options.key_path = key;
  options.create = create;
  auto storage = storage::Storage::open(options);
  INFO(storage.status().to_string());
  REQUIRE(storage.is_ok());
  return std::move(storage).value();
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// A responder with one taken case whose survivor has gone offline: what the
// responder sends stays stored in the survivor's mailbox.
struct OfflineCase {
  std::unique_ptr<WsClient> responder;
  Bytes case_id;
};

OfflineCase open_offline_case(HearthdProcess& hearthd, const TestResponder& ana) {
  OfflineCase out;
  out.responder = WsClient::connect(hearthd.port());
  REQUIRE(error_code(responder_login(*out.responder, ana)) == "");
  REQUIRE(error_code(upload_prekeys(*out.responder, ana)) == "");
  auto survivor_ws = WsClient::connect(hearthd.port());
  TestSurvivor survivor = TestSurvivor::make();
  auto routed = route(*survivor_ws, envelope_for(protocol::Need::kShelter));
  REQUIRE(error_code(routed) == "");
  REQUIRE(error_code(open_case(*survivor_ws, routed, &survivor, "intake")) == "");
  out.case_id = take_case(*out.responder);
  survivor_ws->close();
  return out;
}

TEST_CASE("backup while messages flow holds every acknowledged message and restores", "[tools]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, kFastSender);
  hearthd.start();
  OfflineCase c = open_offline_case(hearthd, ana);

  // The sender: every send whose reply (the server's acknowledgement that it
  // is stored) has arrived goes into `acked`, seq -> body.
  std::mutex mu;
  std::map<std::int64_t, std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread sender([&] {
    for (int i = 0; !stop; ++i) {
      std::string body = "message-" + std::to_string(i) + "-" + std::string(200, 'x');
      try {
        auto reply = c.responder->call(protocol::SendRequest{c.case_id, to_bytes(body), {}});
        if (error_code(reply) != "") {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        acked[reply["seq"].get<std::int64_t>()] = body;
      } catch (const std::exception&) {
        ++failures;
        return;
      }
    }
  });
  auto count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size();
  };
  while (count() < 300 && failures == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  std::map<std::int64_t, std::string> before;
  {
    std::lock_guard<std::mutex> lock(mu);
    before = acked;
  }
  TempDir out_dir;
  fs::path backup_file = out_dir.path() / "hearth-backup.db";
  auto r = run_tool(HEARTH_ADMIN_PATH,
                    {"backup", "--config", hearthd.config_path().string(), backup_file.string()});
  std::size_t after_backup = count();
  // Keep sending a little longer, then stop.
  while (count() < after_backup + 50 && failures == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  sender.join();
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(failures == 0);
  CHECK_THAT(r.out, Contains("integrity_check on the backup: ok"));
  CHECK_THAT(r.out, Contains("The storage key is NOT in the backup"));
  CHECK_THAT(r.out, Contains("hearth-admin restore --config"));
  CHECK(mode_of(backup_file) == 0600);
  CHECK(count() > before.size());  // messages really flowed during and after the backup
  CHECK(storage::check_integrity(backup_file).is_ok());

  // A restore into the running hearthd's data dir is refused.
  auto refused = run_tool(HEARTH_ADMIN_PATH, {"restore", "--config", hearthd.config_path().string(),
                                              backup_file.string(), "--yes"});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Contains("hearthd is running on this database; stop it first"));

  CHECK(hearthd.terminate() == 0);
  auto restored = run_tool(
      HEARTH_ADMIN_PATH,
      {"restore", "--config", hearthd.config_path().string(), backup_file.string(), "--yes"});
  INFO(restored.out << restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK_THAT(restored.out, Contains("kept as"));

  server::Config config = config_of(hearthd);
  CHECK(storage::check_integrity(config.database).is_ok());
  std::map<std::int64_t, std::string> found;
  {
    auto db = open_db(config.database, config.key_file);
    auto mailbox = server::survivor_mailbox(storage::CaseId::from(c.case_id).value());
    std::int64_t after_seq = 0;
    while (true) {
      auto page = db->stores().envelopes.fetch(mailbox, after_seq, 1000).value();
      if (page.empty()) break;
      for (const auto& e : page) found[e.seq] = to_string(e.ciphertext);
      after_seq = page.back().seq;
    }
    auto audit = db->stores().audit.entries(0, 100).value();
    REQUIRE_FALSE(audit.empty());
    CHECK(audit.back().action == "restore");
  }
  std::size_t missing = 0;
  for (const auto& [seq, body] : before) {
    auto it = found.find(seq);
    if (it == found.end() || it->second != body) ++missing;
  }
  CHECK(missing == 0);
  CHECK(found.size() >= before.size());

  // hearthd starts on the restored database.
  hearthd.start();
  CHECK(hearthd.terminate() == 0);
  check_logs_clean(hearthd, {before.begin()->second});
}

TEST_CASE("restore with the wrong key file is refused and changes nothing", "[tools]") {
  TempDir dir;
  fs::path backup_file = dir.path() / "backup.db";
  {
    auto db = open_db(dir.path() / "a.db", dir.path() / "a.key", true);
    REQUIRE(storage::online_backup(dir.path() / "a.db", backup_file).is_ok());
  }
  { open_db(dir.path() / "b.db", dir.path() / "b.key", true); }
  auto r = run_tool(HEARTH_ADMIN_PATH,
                    {"restore", "--database", (dir.path() / "b.db").string(), "--key-file",
                     (dir.path() / "b.key").string(), backup_file.string(), "--yes"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("does not open this backup"));
  for (const auto& e : fs::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().find("before-restore") == std::string::npos);
  CHECK_FALSE(fs::exists(dir.path() / "b.db.restoring"));
  open_db(dir.path() / "b.db", dir.path() / "b.key");

  // Without --yes and without a terminal, nothing happens either.
  auto unconfirmed = run_tool(
      HEARTH_ADMIN_PATH, {"restore", "--database", (dir.path() / "b.db").string(), "--key-file",
                          (dir.path() / "b.key").string(), backup_file.string()});
  CHECK(unconfirmed.exit_code == 1);
  CHECK_THAT(unconfirmed.err, Contains("add --yes"));
  // Neither --config nor --database: a bad command line.
  auto nowhere = run_tool(HEARTH_ADMIN_PATH, {"restore", backup_file.string()});
  CHECK(nowhere.exit_code == 2);
  CHECK_THAT(nowhere.err, Contains("--config"));
}

TEST_CASE("stats export prints counters only, small cells suppressed", "[tools]") {
  TempDir dir;
  fs::path db = dir.path() / "hearth.db";
  fs::path key = dir.path() / "master.key";
  {
    auto s = open_db(db, key, true);
    REQUIRE(s->stores().counters.increment({202611, "shelter", "referred", "en"}, 3).is_ok());
    REQUIRE(s->stores().counters.increment({202611, "legal", "resolved", "es"}, 7).is_ok());
    // Free text never becomes a cell, so it can never reach an export.
    CHECK(s->stores().counters.increment({202611, "Maria in Leeds", "x", "en"}).code() ==
          Code::kInvalidArgument);
  }
  std::vector<std::string> paths = {"--database", db.string(), "--key-file", key.string()};
  auto args = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"stats", "export"};
    a.insert(a.end(), paths.begin(), paths.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto r = run_tool(HEARTH_ADMIN_PATH, args({}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out ==
        "month,need,outcome,language_group,count\n"
        "202611,legal,resolved,es,7\n"
        "202611,shelter,referred,en,<5\n");

  auto strict = run_tool(HEARTH_ADMIN_PATH, args({"--min-cell", "8"}));
  CHECK(strict.out ==
        "month,need,outcome,language_group,count\n"
        "202611,legal,resolved,es,<8\n"
        "202611,shelter,referred,en,<8\n");
  for (const char* k : {"1", "0"}) {
    auto refused = run_tool(HEARTH_ADMIN_PATH, args({"--min-cell", k}));
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, Contains("at least 2"));
  }

  fs::path csv = dir.path() / "stats.csv";
  auto to_file = run_tool(HEARTH_ADMIN_PATH, args({"--out", csv.string()}));
  REQUIRE(to_file.exit_code == 0);
  CHECK(read_file(csv).value() == r.out);
  CHECK(mode_of(csv) == 0600);
  auto again = run_tool(HEARTH_ADMIN_PATH, args({"--out", csv.string()}));
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Contains("already exists"));

  // The wrong key is named as such.
  { open_db(dir.path() / "other.db", dir.path() / "other.key", true); }
  auto wrong = run_tool(HEARTH_ADMIN_PATH, {"stats", "export", "--database", db.string(),
                                            "--key-file", (dir.path() / "other.key").string()});
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.err, Contains("does not match"));
}

TEST_CASE("stats export works while hearthd serves, and purge waits until it is stopped",
          "[tools]") {
  TestOrg org;
  org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org);
  hearthd.start();
  auto stats =
      run_tool(HEARTH_ADMIN_PATH, {"stats", "export", "--config", hearthd.config_path().string()});
  INFO(stats.err);
  CHECK(stats.exit_code == 0);
  CHECK(stats.out == "month,need,outcome,language_group,count\n");
  auto purge =
      run_tool(HEARTH_ADMIN_PATH, {"purge", "--config", hearthd.config_path().string(), "--yes"});
  CHECK(purge.exit_code == 1);
  CHECK_THAT(purge.err, Contains("hearthd is running on this database; stop it first"));
  CHECK(hearthd.terminate() == 0);
  auto done =
      run_tool(HEARTH_ADMIN_PATH, {"purge", "--config", hearthd.config_path().string(), "--yes"});
  INFO(done.out << done.err);
  CHECK(done.exit_code == 0);
  CHECK_THAT(done.out, Contains("undelivered envelopes deleted: 0"));
}

TEST_CASE("purge deletes old envelopes and closed cases now, and VACUUMs", "[tools]") {
  TempDir dir;
  fs::path db = dir.path() / "hearth.db";
  fs::path key = dir.path() / "master.key";
  const UnixSeconds now = SystemClock().now();
  const UnixSeconds day = 86400;
  auto fresh_box = storage::random_id<storage::MailboxId>();
  auto old_box = storage::random_id<storage::MailboxId>();
  auto closed_id = storage::random_id<storage::CaseId>();
  auto open_id = storage::random_id<storage::CaseId>();
  {
    auto s = open_db(db, key, true);
    auto& st = s->stores();
    for (int i = 0; i < 50; ++i)
      REQUIRE(st.envelopes.put(old_box, Bytes(4000, 0x5a), now - 40 * day).is_ok());
    REQUIRE(st.envelopes.put(fresh_box, to_bytes("fresh"), now - 10 * day).is_ok());
    server::CaseRecord record;
    record.queue = "shelter";
    record.vault_login_key = Bytes(32, 0x11);
    REQUIRE(st.cases.create(open_id, server::encode_case_record(record), now - 50 * day).is_ok());
    record.closed = true;
    REQUIRE(st.cases.create(closed_id, server::encode_case_record(record), now - 35 * day).is_ok());
  }
  std::vector<std::string> paths = {"--database", db.string(), "--key-file", key.string()};
  auto args = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"purge"};
    a.insert(a.end(), paths.begin(), paths.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto unconfirmed = run_tool(HEARTH_ADMIN_PATH, args({}));
  CHECK(unconfirmed.exit_code == 1);
  CHECK_THAT(unconfirmed.err, Contains("add --yes"));

  auto r = run_tool(HEARTH_ADMIN_PATH, args({"--yes"}));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("undelivered envelopes deleted: 50"));
  CHECK_THAT(r.out, Contains("closed cases deleted:          1"));
  // The WAL is empty or gone: nothing purged survives in its frames.
  bool wal_has_frames = fs::exists(db.string() + "-wal") && fs::file_size(db.string() + "-wal") > 0;
  CHECK_FALSE(wal_has_frames);
  {
    auto s = open_db(db, key);
    auto& st = s->stores();
    CHECK(st.envelopes.pending(old_box).value() == 0);
    CHECK(st.envelopes.pending(fresh_box).value() == 1);
    CHECK(st.cases.get(closed_id).status().code() == Code::kNotFound);
    CHECK(st.cases.get(open_id).is_ok());  // open cases are never purged
    auto audit = st.audit.entries(0, 10).value();
    REQUIRE(audit.size() == 1);
    CHECK(audit[0].action == "purge");
  }
  // No trace of the purged ciphertext's pages in the file: 200 KB were freed.
  CHECK(fs::file_size(db) < 100 * 1024);

  // --older-than-days tightens the window.
  auto tighter = run_tool(HEARTH_ADMIN_PATH, args({"--yes", "--older-than-days", "5"}));
  CHECK(tighter.exit_code == 0);
  CHECK_THAT(tighter.out, Contains("undelivered envelopes deleted: 1"));
}

}  // namespace
}  // namespace hearth::test
