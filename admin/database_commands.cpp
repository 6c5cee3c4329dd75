// hearth-admin's database commands (command.h), run on the server host:
//
//   backup  --config hearthd.json OUT            a consistent copy while hearthd serves
//   restore --config hearthd.json BACKUP [--yes] [--no-keep]   with hearthd stopped
//   stats export --config hearthd.json [--min-cell K] [--out FILE|-]
//   purge   --config hearthd.json [--older-than-days N] [--yes] with hearthd stopped
//
// Paths come from hearthd's own config file, so the admin cannot pair a
// database with the wrong key by hand; --database and --key-file exist for a
// database without a config at hand. docs/hearth-admin.md describes each.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "admin/command.h"
#include "admin/database_tasks.h"
#include "common/clock.h"
#include "common/fd.h"
#include "host/config.h"
#include "storage/backup.h"

namespace hearth::admin {
namespace {

namespace fs = std::filesystem;

struct PathOptions {
  std::string config;
  std::string database;
  std::string key_file;
};

struct Paths {
  fs::path config;  // empty with --database
  fs::path database;
  fs::path key_file;
  std::int64_t retention_days = server::Limits{}.undelivered_retention_days;
};

void add_path_options(CLI::App* cmd, PathOptions& p) {
  auto* config = cmd->add_option("--config", p.config,
                                 "hearthd's config file: the database and key file it names");
  auto* database =
      cmd->add_option("--database", p.database, "the database file, instead of --config")
          ->excludes(config);
  cmd->add_option("--key-file", p.key_file, "the storage key file, with --database")
      ->excludes(config)
      ->needs(database);
}

// What is missing from the command line, or "" when the paths are given.
std::string missing_paths(const PathOptions& p, bool need_key) {
  if (p.config.empty() && p.database.empty())
    return "say which database: --config hearthd.json (or --database FILE --key-file FILE)";
  if (p.config.empty() && need_key && p.key_file.empty())
    return "--database needs --key-file for this command";
  return "";
}

// A bad command line: the message, and exit code 2.
int usage(const std::string& what, const std::string& message) {
  std::fprintf(stderr, "hearth-admin: %s: %s\n", what.c_str(), message.c_str());
  return 2;
}

// The paths to work on, from hearthd's config or the options (checked by
// missing_paths() first).
Result<Paths> resolve(const PathOptions& p) {
  Paths out;
  if (!p.config.empty()) {
    auto config = server::load_config(p.config);
    if (!config.is_ok())
      return error(config.status().code(),
                   "cannot read hearthd's config " + p.config + ": " + config.status().message());
    out.config = p.config;
    out.database = config->database;
    out.key_file = config->key_file;
    out.retention_days = config->limits.undelivered_retention_days;
    return out;
  }
  out.database = p.database;
  out.key_file = p.key_file;
  return out;
}

std::string how_to_name(const Paths& paths) {
  if (!paths.config.empty()) return "--config " + paths.config.string();
  return "--database " + paths.database.string() + " --key-file " + paths.key_file.string();
}

std::string size_text(std::uint64_t bytes) {
  char buf[32];
  if (bytes < 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// Asks on the terminal; without one, only --yes may confirm: a script that
// forgot it must not destroy data because nobody could answer.
Status confirm(const std::string& what, bool yes) {
  if (yes) return Status::ok();
  if (::isatty(STDIN_FILENO) == 0)
    return error(Code::kInvalidArgument, "not on a terminal; add --yes to confirm");
  std::fprintf(stderr, "%s\nType yes to continue: ", what.c_str());
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer) || answer != "yes")
    return error(Code::kInvalidArgument, "not confirmed; nothing was changed");
  return Status::ok();
}

// ---- backup ----

int backup(const PathOptions& p, const std::string& out) {
  if (auto m = missing_paths(p, false); !m.empty()) return usage("backup", m);
  auto paths = resolve(p);
  if (!paths.is_ok()) return fail("backup", paths.status());
  std::uint64_t size = 0;
  {
    std::error_code ec;
    size = fs::file_size(paths->database, ec);
    if (ec) size = 0;
  }
  if (size > 64u * 1024 * 1024)
    std::fprintf(stderr, "copying %s from %s (one step, one snapshot)...\n",
                 size_text(size).c_str(), paths->database.c_str());
  auto info = storage::online_backup(paths->database, out);
  if (!info.is_ok()) return fail("backup", info.status());
  std::printf("backup written: %s (%s, schema version %" PRId64 "), mode 0600\n", out.c_str(),
              size_text(info->bytes).c_str(), info->schema_version);
  std::printf("integrity_check on the backup: ok\n");
  std::printf(
      "It is one consistent snapshot of %s:\nevery message and case acknowledged before it began "
      "is in it.\n",
      paths->database.c_str());
  std::printf("\nThe storage key is NOT in the backup");
  if (!paths->key_file.empty()) std::printf(" (key file: %s)", paths->key_file.c_str());
  std::printf(
      ".\nBack the key file up separately, once, on a different medium from the backups: a\n"
      "restore needs it, and without it nothing sealed in a backup can be read, not even by you.\n"
      "A backup alone reveals nothing sealed (docs/storage.md \"What the database file alone\n"
      "reveals\"); a backup together with the key is the whole database: never store the two\n"
      "together.\n");
  std::printf(
      "\nNext: move %s off this machine (it is 0600; keep it that way). To restore: stop hearthd,\n"
      "then run: hearth-admin restore %s %s\n",
      out.c_str(),
      paths->config.empty() ? "--database ... --key-file ..." : how_to_name(*paths).c_str(),
      out.c_str());
  return 0;
}

// ---- restore ----

int restore(const PathOptions& p, const std::string& backup_file, bool yes, bool no_keep) {
  if (auto m = missing_paths(p, true); !m.empty()) return usage("restore", m);
  auto paths = resolve(p);
  if (!paths.is_ok()) return fail("restore", paths.status());
  {
    // Before asking anything: the wrong user or a running hearthd makes the
    // question moot.
    if (Status owner = storage::check_owner(paths->database); !owner.is_ok())
      return fail("restore", owner);
    auto lock = storage::lock_stopped_database(paths->database);
    if (!lock.is_ok()) return fail("restore", lock.status());
  }
  Status ok = confirm("This replaces " + paths->database.string() + " with the backup " +
                          backup_file + ".\nEverything stored after that backup was taken is lost" +
                          (no_keep ? " (and the current database is deleted)." : "."),
                      yes);
  if (!ok.is_ok()) return fail("restore", ok);
  storage::RestoreOptions options;
  options.backup = backup_file;
  options.database = paths->database;
  options.key_file = paths->key_file;
  options.keep_current = !no_keep;
  options.now = SystemClock().now();
  auto info = storage::restore_backup(options);
  if (!info.is_ok()) return fail("restore", info.status());
  std::printf("restored %s from %s (integrity_check ok, key file matches, schema version %" PRId64
              ")\n",
              paths->database.c_str(), backup_file.c_str(), info->schema_version);
  if (info->kept)
    std::printf("the previous database is kept as %s (0600): delete it once the restore is good\n",
                info->kept->c_str());
  else
    std::printf("the previous database was deleted\n");
  std::printf("an audit log entry \"restore\" was written\n");
  std::printf(
      "\nNext: start hearthd. The database is as it was when the backup was taken: messages,\n"
      "cases and vault updates since then are gone, and cases or vaults deleted since then are\n"
      "back (with their stored messages) until deleted again or expired. Responders should log\n"
      "in and upload fresh prekeys: one-time prekeys handed out after the backup are back in the\n"
      "pool. The current roster file is loaded as usual.\n");
  return 0;
}

// ---- stats export ----

int stats_export(const PathOptions& p, std::int64_t min_cell, const std::string& out) {
  if (min_cell < kMinSuppressionThreshold)
    return usage("stats export",
                 "--min-cell must be at least 2: a cell of 1 is one person, and publishing it "
                 "can identify them");
  if (auto m = missing_paths(p, true); !m.empty()) return usage("stats export", m);
  auto paths = resolve(p);
  if (!paths.is_ok()) return fail("stats export", paths.status());
  fs::path scratch = paths->database.parent_path();
  if (scratch.empty()) scratch = ".";
  auto cells = storage::snapshot_counters(paths->database, paths->key_file, scratch);
  if (!cells.is_ok()) return fail("stats export", cells.status());
  auto csv = counters_csv(*cells, min_cell);
  if (!csv.is_ok()) return fail("stats export", csv.status());
  if (out == "-") {
    std::fwrite(csv->data(), 1, csv->size(), stdout);
    return 0;
  }
  Fd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid())
    return fail(
        "stats export",
        error(Code::kUnavailable, errno == EEXIST ? out + " already exists; choose a new file name"
                                                  : "cannot create " + out));
  std::size_t written = 0;
  while (written < csv->size()) {
    ssize_t n = ::write(fd.get(), csv->data() + written, csv->size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  bool good = written == csv->size() && ::fsync(fd.get()) == 0;
  fd.reset();
  if (!good) {
    fs::remove(out);
    return fail("stats export", error(Code::kUnavailable, "cannot write " + out));
  }
  std::fprintf(stderr, "wrote %zu cells to %s; counts below %" PRId64 " shown as <%" PRId64 "\n",
               cells->size(), out.c_str(), min_cell, min_cell);
  return 0;
}

// ---- purge ----

int purge(const PathOptions& p, std::optional<std::int64_t> older_than_days, bool yes) {
  if (auto m = missing_paths(p, true); !m.empty()) return usage("purge", m);
  auto paths = resolve(p);
  if (!paths.is_ok()) return fail("purge", paths.status());
  std::int64_t days = paths->retention_days;
  if (older_than_days && *older_than_days < days) days = *older_than_days;
  if (older_than_days && *older_than_days > paths->retention_days)
    std::fprintf(stderr,
                 "note: --older-than-days %" PRId64 " is longer than hearthd's retention (%" PRId64
                 " days); purging at %" PRId64 " days, as hearthd itself would\n",
                 *older_than_days, paths->retention_days, days);
  {
    if (Status owner = storage::check_owner(paths->database); !owner.is_ok())
      return fail("purge", owner);
    auto lock = storage::lock_stopped_database(paths->database);
    if (!lock.is_ok()) return fail("purge", lock.status());
  }
  Status ok = confirm("This deletes, from " + paths->database.string() +
                          ", undelivered messages and closed cases older than " +
                          std::to_string(days) + " days.",
                      yes);
  if (!ok.is_ok()) return fail("purge", ok);
  auto result = purge_expired(paths->database, paths->key_file, days * 86400, SystemClock().now());
  if (!result.is_ok()) return fail("purge", result.status());
  std::printf("purged %s (older than %" PRId64 " days):\n", paths->database.c_str(), days);
  std::printf("  undelivered envelopes deleted: %" PRId64 "\n", result->envelopes);
  std::printf("  closed cases deleted:          %" PRId64 "\n", result->closed_cases);
  std::printf("  vaults with no case deleted:   %" PRId64 "\n", result->vaults);
  std::printf("  database + WAL: %s before, %s after (VACUUM, WAL truncated)\n",
              size_text(result->bytes_before).c_str(), size_text(result->bytes_after).c_str());
  std::printf("an audit log entry \"purge\" was written\n");
  std::printf(
      "\nNext: start hearthd. Older backups still hold what was purged: expire them on the same\n"
      "schedule.\n");
  return 0;
}

}  // namespace

void add_database_commands(CLI::App& app, Commands& commands) {
  // backup
  {
    auto p = std::make_shared<PathOptions>();
    auto out = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(
        "backup", "copy hearthd's database to a new file, consistently, while it serves");
    add_path_options(cmd, *p);
    cmd->add_option("out", *out, "the backup file to create (must not exist)")->required();
    commands.add(cmd, [p, out] { return backup(*p, *out); });
  }
  // restore
  {
    auto p = std::make_shared<PathOptions>();
    auto file = std::make_shared<std::string>();
    auto yes = std::make_shared<bool>(false);
    auto no_keep = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand(
        "restore", "replace hearthd's database with a backup (hearthd must be stopped)");
    add_path_options(cmd, *p);
    cmd->add_option("backup", *file, "the backup file (from hearth-admin backup)")->required();
    cmd->add_flag("--yes", *yes, "do not ask for confirmation");
    cmd->add_flag("--no-keep", *no_keep,
                  "delete the current database instead of keeping it as "
                  "<database>.before-restore-<time>");
    commands.add(cmd, [p, file, yes, no_keep] { return restore(*p, *file, *yes, *no_keep); });
  }
  // stats export
  {
    auto p = std::make_shared<PathOptions>();
    auto min_cell = std::make_shared<std::int64_t>(kDefaultSuppressionThreshold);
    auto out = std::make_shared<std::string>("-");
    auto* stats = app.add_subcommand("stats", "aggregate statistics (counters only)");
    stats->require_subcommand(1);
    auto* cmd = stats->add_subcommand(
        "export", "CSV of the statistics counters, small cells suppressed (works while serving)");
    add_path_options(cmd, *p);
    cmd->add_option("--min-cell", *min_cell,
                    "counts below this are shown as <K (default 5, at least 2)");
    cmd->add_option("--out", *out, "the CSV file to create (0600), or - for stdout (default)");
    commands.add(cmd, [p, min_cell, out] { return stats_export(*p, *min_cell, *out); });
  }
  // purge
  {
    auto p = std::make_shared<PathOptions>();
    auto days = std::make_shared<std::optional<std::int64_t>>();
    auto yes = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand(
        "purge",
        "delete expired undelivered messages and closed cases now, then VACUUM (hearthd stopped)");
    add_path_options(cmd, *p);
    cmd->add_option("--older-than-days", *days,
                    "a shorter window than hearthd's undelivered_retention_days")
        ->check(CLI::Range(0, 3650));
    cmd->add_flag("--yes", *yes, "do not ask for confirmation");
    commands.add(cmd, [p, days, yes] { return purge(*p, *days, *yes); });
  }
}

}  // namespace hearth::admin
