#include "storage/migrations.h"

#include <array>
#include <string>

namespace hearth::storage {
namespace {

// Version 1: what the relay needs to move messages.
constexpr std::string_view kMessagingCore = R"sql(
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE rosters (
  epoch         INTEGER PRIMARY KEY,
  stored_minute INTEGER NOT NULL,
  signed_roster BLOB NOT NULL
);

CREATE TABLE certificates (
  responder_id BLOB PRIMARY KEY,
  certificate  BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE signed_prekeys (
  responder_id    BLOB NOT NULL,
  generation      INTEGER NOT NULL,
  prekey_id       INTEGER NOT NULL,
  uploaded_minute INTEGER NOT NULL,
  record          BLOB NOT NULL,
  PRIMARY KEY (responder_id, generation)
) WITHOUT ROWID;

CREATE TABLE one_time_prekeys (
  responder_id BLOB NOT NULL,
  prekey_id    INTEGER NOT NULL,
  record       BLOB NOT NULL,
  PRIMARY KEY (responder_id, prekey_id)
) WITHOUT ROWID;

CREATE TABLE cases (
  case_index BLOB PRIMARY KEY,
  version    INTEGER NOT NULL,
  sealed     BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE mailboxes (
  mailbox_index BLOB PRIMARY KEY,
  last_seq      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE envelopes (
  id             INTEGER PRIMARY KEY,
  mailbox_index  BLOB NOT NULL,
  seq            INTEGER NOT NULL,
  created_minute INTEGER NOT NULL,
  sealed         BLOB NOT NULL,
  UNIQUE (mailbox_index, seq)
);

CREATE TABLE vaults (
  id      INTEGER PRIMARY KEY,
  lookup  BLOB NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  sealed  BLOB NOT NULL
);
)sql";

// Version 2: what the organisation keeps about its work.
constexpr std::string_view kOrgRecords = R"sql(
CREATE TABLE org_records (
  id             INTEGER PRIMARY KEY,
  created_minute INTEGER NOT NULL,
  sealed_record  BLOB NOT NULL
);

CREATE TABLE counters (
  cell   BLOB PRIMARY KEY,
  sealed BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_log (
  seq    INTEGER PRIMARY KEY,
  minute INTEGER NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL,
  hash   BLOB NOT NULL
);
)sql";

// Version 3: one vault per login key. The column is a blind index of the
// vault's login public key; rows written before it are indexed when the
// storage opens (VaultStore::index_login_keys, which needs the key). NULLs
// are distinct in a UNIQUE index, so those rows do not collide meanwhile.
constexpr std::string_view kVaultKeyIndex = R"sql(
ALTER TABLE vaults ADD COLUMN key_index BLOB;
CREATE UNIQUE INDEX vaults_key_index ON vaults (key_index);
)sql";

constexpr std::array kMigrations = {
    Migration{1, "messaging core", kMessagingCore},
    Migration{2, "org records, statistics and audit", kOrgRecords},
    Migration{3, "one vault per login key", kVaultKeyIndex},
};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

std::int64_t latest_schema_version() { return kMigrations.back().version; }

Status migrate(Database& db, std::int64_t target) {
  HEARTH_ASSIGN_OR_RETURN(std::int64_t current, db.user_version());
  if (current > target) {
    return error(Code::kUnavailable, "database schema version " + std::to_string(current) +
                                         " is newer than this build supports (" +
                                         std::to_string(target) + ")");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current || m.version > target) continue;
    HEARTH_TRY(db.begin());
    Status status = db.exec(m.sql);
    if (status.is_ok()) status = db.set_user_version(m.version);
    if (status.is_ok()) status = db.commit();
    if (!status.is_ok()) {
      db.rollback();
      return error(status.code(), "migration " + std::to_string(m.version) + " (" +
                                      std::string(m.name) + "): " + status.message());
    }
  }
  return Status::ok();
}

}  // namespace hearth::storage
