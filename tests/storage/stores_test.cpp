// Each store on its own, used directly on one thread.
#include <catch2/catch.hpp>

#include <limits>
#include <set>

#include "crypto/random.h"
#include "storage/migrations.h"
#include "storage/stores.h"
#include "tests/storage/storage_test_util.h"

namespace hearth::storage {
namespace {

using testing::contains;
using testing::open_storage;
using testing::raw_database;

constexpr UnixSeconds kNow = 1'790'000'123;  // not on a minute boundary

TEST_CASE("envelopes: per-mailbox sequence, in-order fetch, ack deletes", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  EnvelopeStore& env = storage->stores().envelopes;
  MailboxId a = random_id<MailboxId>();
  MailboxId b = random_id<MailboxId>();

  REQUIRE(env.put(a, as_bytes("a1"), kNow).value() == 1);
  REQUIRE(env.put(a, as_bytes("a2"), kNow).value() == 2);
  REQUIRE(env.put(b, as_bytes("b1"), kNow).value() == 1);
  REQUIRE(env.put(a, as_bytes("a3"), kNow + 61).value() == 3);

  auto all = env.fetch(a, 0, 100).value();
  REQUIRE(all.size() == 3);
  REQUIRE(to_string(all[0].ciphertext) == "a1");
  REQUIRE(to_string(all[2].ciphertext) == "a3");
  REQUIRE(all[0].created_minute == to_minute(kNow));  // minute precision only
  REQUIRE(all[0].created_minute % 60 == 0);
  REQUIRE(env.fetch(a, 1, 1).value().at(0).seq == 2);

  REQUIRE(env.ack(a, 2).value());
  REQUIRE_FALSE(env.ack(a, 2).value());  // a repeated ack is harmless
  REQUIRE(env.pending(a).value() == 2);
  REQUIRE(env.pending(b).value() == 1);

  // Sequence numbers are never reused, even once the mailbox is empty.
  REQUIRE(env.ack(a, 1).value());
  REQUIRE(env.ack(a, 3).value());
  REQUIRE(env.pending(a).value() == 0);
  REQUIRE(env.put(a, as_bytes("a4"), kNow).value() == 4);

  REQUIRE(env.drop_mailbox(a).is_ok());
  REQUIRE(env.pending(a).value() == 0);
  REQUIRE(env.put(a, as_bytes("new"), kNow).value() == 1);
}

TEST_CASE("envelopes: undelivered ones expire after the window", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  EnvelopeStore& env = storage->stores().envelopes;
  MailboxId m = random_id<MailboxId>();
  constexpr UnixSeconds kDay = 86400;
  REQUIRE(env.put(m, as_bytes("old"), kNow).is_ok());
  REQUIRE(env.put(m, as_bytes("new"), kNow + 20 * kDay).is_ok());
  REQUIRE(env.expire_undelivered(kNow + 29 * kDay, 30 * kDay).value() == 0);
  REQUIRE(env.expire_undelivered(kNow + 30 * kDay, 30 * kDay).value() == 1);
  auto left = env.fetch(m, 0, 10).value();
  REQUIRE(left.size() == 1);
  REQUIRE(to_string(left[0].ciphertext) == "new");
  REQUIRE(env.expire_undelivered(kNow, -1).status().code() == Code::kInvalidArgument);
}

TEST_CASE("envelopes: limits, sealing at rest, rows cannot be swapped", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  EnvelopeStore& env = storage->stores().envelopes;
  MailboxId m = random_id<MailboxId>();
  REQUIRE(env.put(m, Bytes(kMaxEnvelopeBytes + 1), kNow).status().code() == Code::kLimitExceeded);

  Bytes marker = to_bytes("PLAINTEXT-MARKER-7f3a9c");
  REQUIRE(env.put(m, marker, kNow).is_ok());
  REQUIRE(env.put(m, as_bytes("second"), kNow).is_ok());
  REQUIRE(storage->db().checkpoint_truncate().is_ok());
  // Neither the ciphertext nor the mailbox id is in the file as written.
  std::string raw = raw_database(*storage);
  REQUIRE_FALSE(contains(raw, marker));
  REQUIRE_FALSE(contains(raw, m.view()));

  // Moving a sealed body to another row makes it fail to open.
  REQUIRE(storage->db()
              .exec("UPDATE envelopes SET sealed = (SELECT sealed FROM envelopes WHERE seq = 2) "
                    "WHERE seq = 1")
              .is_ok());
  auto left = env.fetch(m, 0, 10).value();
  REQUIRE(left.size() == 1);  // the moved body is not returned
  REQUIRE(left[0].seq == 2);
  REQUIRE(env.damaged_rows() == 1);
}

TEST_CASE("envelopes: a damaged row is skipped, and the mailbox is fetched and acked past it",
          "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  EnvelopeStore& env = storage->stores().envelopes;
  MailboxId m = random_id<MailboxId>();
  for (int i = 1; i <= 4; ++i)
    REQUIRE(env.put(m, to_bytes("body " + std::to_string(i)), kNow).is_ok());
  // Flip a byte of envelope 2's sealed body (a bad sector, a bit flip).
  REQUIRE(storage->db()
              .exec("UPDATE envelopes SET sealed = "
                    "substr(sealed, 1, 30) || CASE WHEN substr(sealed, 31, 1) = x'ff' THEN x'00' "
                    "ELSE x'ff' END "
                    "|| substr(sealed, 32) WHERE seq = 2")
              .is_ok());
  auto all = env.fetch(m, 0, 10).value();
  REQUIRE(all.size() == 3);
  REQUIRE(all[0].seq == 1);
  REQUIRE(all[1].seq == 3);
  REQUIRE(to_string(all[2].ciphertext) == "body 4");
  REQUIRE(env.damaged_rows() == 1);
  // Page by page, a page is filled past the damaged row rather than cut short.
  auto first = env.fetch(m, 0, 1).value();
  REQUIRE(first.at(0).seq == 1);
  REQUIRE(env.ack(m, 1).value());
  auto next = env.fetch(m, 1, 1).value();
  REQUIRE(next.size() == 1);
  REQUIRE(next[0].seq == 3);
  REQUIRE(env.ack(m, 3).value());
  REQUIRE(env.fetch(m, 3, 1).value().at(0).seq == 4);
  REQUIRE(env.fetch(m, 4, 1).value().empty());
}

TEST_CASE("cases: a damaged row is skipped by list_open, the others are listed", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  CaseStore& cases = storage->stores().cases;
  std::vector<CaseId> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(random_id<CaseId>());
    REQUIRE(cases.create(ids.back(), to_bytes("case " + std::to_string(i)), kNow).is_ok());
  }
  REQUIRE(storage->db()
              .exec("UPDATE cases SET sealed = "
                    "substr(sealed, 1, 30) || CASE WHEN substr(sealed, 31, 1) = x'ff' THEN x'00' "
                    "ELSE x'ff' END "
                    "|| substr(sealed, 32) "
                    "WHERE case_index = (SELECT case_index FROM cases LIMIT 1)")
              .is_ok());
  auto open = cases.list_open();
  INFO(open.status().to_string());
  REQUIRE(open.is_ok());
  REQUIRE(open->size() == 4);
  REQUIRE(cases.damaged_rows() == 1);
  std::size_t damaged = 0;
  for (const CaseId& id : ids) {
    auto got = cases.get(id);
    if (!got.is_ok()) {
      REQUIRE(got.status().code() == Code::kCorrupt);  // that row is not returned
      damaged++;
    }
  }
  REQUIRE(damaged == 1);
}

TEST_CASE("fetch, list and entries refuse a limit above kMaxFetch", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  Stores& s = storage->stores();
  MailboxId m = random_id<MailboxId>();
  REQUIRE(s.envelopes.put(m, as_bytes("one"), kNow).is_ok());
  REQUIRE(s.records.append(as_bytes("sealed"), kNow).is_ok());
  REQUIRE(s.audit.append("certify", "responder r1", kNow).is_ok());
  // SIZE_MAX became LIMIT -1 in SQL, which SQLite reads as "no limit".
  for (std::size_t limit : {kMaxFetch + 1, std::numeric_limits<std::size_t>::max()}) {
    INFO("limit " << limit);
    REQUIRE(s.envelopes.fetch(m, 0, limit).status().code() == Code::kInvalidArgument);
    REQUIRE(s.records.list(limit).status().code() == Code::kInvalidArgument);
    REQUIRE(s.audit.entries(0, limit).status().code() == Code::kInvalidArgument);
  }
  REQUIRE(s.envelopes.fetch(m, 0, kMaxFetch).value().size() == 1);
  REQUIRE(s.records.list(kMaxFetch).value().size() == 1);
  REQUIRE(s.audit.entries(0, kMaxFetch).value().size() == 1);
}

TEST_CASE("vaults: compare-and-swap, lookup by keyed hash, delete", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  VaultStore& vaults = storage->stores().vaults;
  Bytes login = crypto::random_bytes(32);
  Bytes pk = crypto::random_bytes(32);

  REQUIRE(vaults.get(login).status().code() == Code::kNotFound);
  REQUIRE(vaults.create(login, pk, as_bytes("v1")).is_ok());
  REQUIRE(vaults.create(login, pk, as_bytes("again")).code() == Code::kAlreadyExists);
  auto got = vaults.get(login).value();
  REQUIRE(got.version == 1);
  REQUIRE(got.login_public_key == pk);
  REQUIRE(to_string(got.blob) == "v1");

  REQUIRE(vaults.put(login, 1, as_bytes("v2")).value() == 2);
  REQUIRE(vaults.put(login, 1, as_bytes("stale")).status().code() == Code::kConflict);
  REQUIRE(to_string(vaults.get(login).value().blob) == "v2");
  REQUIRE(vaults.put(crypto::random_bytes(32), 1, as_bytes("x")).status().code() ==
          Code::kNotFound);

  REQUIRE(vaults.create(Bytes(8), pk, {}).code() == Code::kInvalidArgument);
  REQUIRE(vaults.create(crypto::random_bytes(32), Bytes(5), {}).code() == Code::kInvalidArgument);
  REQUIRE(vaults.put(login, 2, Bytes(kMaxVaultBlobBytes + 1)).status().code() ==
          Code::kLimitExceeded);
  // The largest vault a client can seal (1 MiB of padded contents with its
  // version, nonce and tag: 1,048,624 bytes, crypto_tests "the largest vault")
  // is stored, and nothing past it: one bound from sealing to storage.
  constexpr std::size_t kLargestSealedVault = 1024 * 1024 + 48;
  REQUIRE(vaults.put(login, 2, Bytes(kLargestSealedVault)).value() == 3);
  REQUIRE(vaults.get(login).value().blob.size() == kLargestSealedVault);
  REQUIRE(vaults.put(login, 3, Bytes(kLargestSealedVault + 1)).status().code() ==
          Code::kLimitExceeded);

  // The login id itself is never stored.
  REQUIRE(storage->db().checkpoint_truncate().is_ok());
  REQUIRE_FALSE(contains(raw_database(*storage), login));
  REQUIRE_FALSE(contains(raw_database(*storage), pk));

  REQUIRE(vaults.remove(login).is_ok());
  REQUIRE(vaults.get(login).status().code() == Code::kNotFound);
}

TEST_CASE("vaults: two vaults never share a login key", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  VaultStore& vaults = storage->stores().vaults;
  Bytes login = crypto::random_bytes(32);
  Bytes pk = crypto::random_bytes(32);
  REQUIRE(vaults.create(login, pk, as_bytes("v1")).is_ok());
  // The same key under another login id: refused, nothing stored.
  Bytes other = crypto::random_bytes(32);
  REQUIRE(vaults.create(other, pk, as_bytes("taken over")).code() == Code::kConflict);
  REQUIRE(vaults.get(other).status().code() == Code::kNotFound);
  // A taken login id still answers as before, whatever the key.
  REQUIRE(vaults.create(login, crypto::random_bytes(32), {}).code() == Code::kAlreadyExists);
  REQUIRE(vaults.create(login, pk, {}).code() == Code::kAlreadyExists);
  // The database itself refuses a second row with the key's index.
  REQUIRE(storage->db()
              .exec("INSERT INTO vaults (id, lookup, version, sealed, key_index) "
                    "SELECT id + 1, x'00', 1, sealed, key_index FROM vaults")
              .code() == Code::kAlreadyExists);
  // The key is free again once its vault is gone.
  REQUIRE(vaults.remove(login).is_ok());
  REQUIRE(vaults.create(other, pk, as_bytes("v1")).is_ok());
}

TEST_CASE("vaults: rows from before schema version 3 get their key index at open", "[storage]") {
  test::TempDir dir;
  Bytes shared_key = crypto::random_bytes(32);
  Bytes survivor = crypto::random_bytes(32);
  Bytes impostor = crypto::random_bytes(32);
  Bytes alone = crypto::random_bytes(32);
  Bytes alone_key = crypto::random_bytes(32);
  {
    auto storage = open_storage(dir.path());
    REQUIRE(storage->unindexed_vaults() == 0);
    VaultStore& vaults = storage->stores().vaults;
    REQUIRE(vaults.create(survivor, shared_key, as_bytes("mine")).is_ok());
    REQUIRE(vaults.create(alone, alone_key, as_bytes("solo")).is_ok());
    // What the old open_case let anyone write: the survivor's key under
    // another login id, sealed as VaultStore seals a row.
    const Sealer& sealer = storage->sealer();
    Bytes lookup = sealer.vault_lookup(impostor);
    Bytes plain;
    append_lp(plain, shared_key);
    append(plain, as_bytes("theirs"));
    auto insert = storage->db().prepare(
        "INSERT INTO vaults (id, lookup, version, sealed) VALUES (77, ?1, 1, ?2)");
    REQUIRE(insert.is_ok());
    insert->bind(1, lookup).bind(2, sealer.seal("vaults", row_key(lookup, 1), plain));
    REQUIRE(insert->run().is_ok());
    // Back to schema version 2: no key index at all.
    REQUIRE(storage->db()
                .exec("DROP INDEX vaults_key_index; ALTER TABLE vaults DROP COLUMN key_index;")
                .is_ok());
    REQUIRE(storage->db().set_user_version(2).is_ok());
  }
  auto storage = open_storage(dir.path());
  REQUIRE(storage->db().user_version().value() == latest_schema_version());
  // Two rows share a key: the first indexed keeps it, the other is left out.
  REQUIRE(storage->unindexed_vaults() == 1);
  auto count = storage->db().prepare("SELECT count(*) FROM vaults WHERE key_index IS NULL");
  REQUIRE(count->step().value());
  REQUIRE(count->column_int64(0) == 1);
  VaultStore& vaults = storage->stores().vaults;
  REQUIRE(to_string(vaults.get(survivor).value().blob) == "mine");
  REQUIRE(to_string(vaults.get(impostor).value().blob) == "theirs");
  REQUIRE(to_string(vaults.get(alone).value().blob) == "solo");
  // Indexed now: neither key can be used for a new vault.
  REQUIRE(vaults.create(crypto::random_bytes(32), shared_key, {}).code() == Code::kConflict);
  REQUIRE(vaults.create(crypto::random_bytes(32), alone_key, {}).code() == Code::kConflict);
  // Opening again changes nothing.
  storage.reset();
  storage = open_storage(dir.path());
  REQUIRE(storage->unindexed_vaults() == 1);
}

TEST_CASE("vaults: a row rolled back to an older version fails to open", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  VaultStore& vaults = storage->stores().vaults;
  Bytes login = crypto::random_bytes(32);
  REQUIRE(vaults.create(login, crypto::random_bytes(32), as_bytes("v1")).is_ok());
  REQUIRE(vaults.put(login, 1, as_bytes("v2")).is_ok());
  // Someone with write access to the file sets the version back.
  REQUIRE(storage->db().exec("UPDATE vaults SET version = 1").is_ok());
  REQUIRE(vaults.get(login).status().code() == Code::kCorrupt);
}

TEST_CASE("cases: sealed routing fields, compare-and-swap, list, remove", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  CaseStore& cases = storage->stores().cases;
  CaseId id = random_id<CaseId>();
  Bytes fields = to_bytes("need=shelter;urgency=today;lang=uk;queue=housing");

  REQUIRE(cases.create(id, fields, kNow).is_ok());
  REQUIRE(cases.create(id, fields, kNow).code() == Code::kAlreadyExists);
  auto row = cases.get(id).value();
  REQUIRE(row.id == id);
  REQUIRE(row.version == 1);
  REQUIRE(row.fields == fields);
  REQUIRE(row.opened_minute == to_minute(kNow));

  // Two responders take the case: only the first update wins.
  REQUIRE(cases.update(id, 1, as_bytes("taken-by=r1"), kNow + 120).value() == 2);
  REQUIRE(cases.update(id, 1, as_bytes("taken-by=r2"), kNow + 120).status().code() ==
          Code::kConflict);
  row = cases.get(id).value();
  REQUIRE(to_string(row.fields) == "taken-by=r1");
  REQUIRE(row.updated_minute == to_minute(kNow + 120));
  REQUIRE(row.opened_minute == to_minute(kNow));

  CaseId other = random_id<CaseId>();
  REQUIRE(cases.create(other, as_bytes("x"), kNow).is_ok());
  auto open = cases.list_open().value();
  REQUIRE(open.size() == 2);

  REQUIRE(storage->db().checkpoint_truncate().is_ok());
  std::string raw = raw_database(*storage);
  REQUIRE_FALSE(contains(raw, id.view()));
  REQUIRE_FALSE(contains(raw, as_bytes("taken-by")));

  REQUIRE(cases.remove(id).is_ok());
  REQUIRE(cases.get(id).status().code() == Code::kNotFound);
  REQUIRE(cases.update(id, 2, {}, kNow).status().code() == Code::kNotFound);
  REQUIRE(cases.create(random_id<CaseId>(), Bytes(kMaxCaseFieldsBytes + 1), kNow).code() ==
          Code::kLimitExceeded);
}

TEST_CASE("prekeys: signed prekey generations and one-time prekeys handed out once", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  PrekeyStore& prekeys = storage->stores().prekeys;
  Bytes r = to_bytes("responder-1");

  REQUIRE(prekeys.current_signed_prekey(r).status().code() == Code::kNotFound);
  for (std::uint32_t i = 1; i <= 3; ++i)
    REQUIRE(prekeys.put_signed_prekey(r, {i, to_bytes("spk" + std::to_string(i))}, kNow).is_ok());
  REQUIRE(prekeys.current_signed_prekey(r).value().id == 3);
  {
    auto count = storage->db().prepare("SELECT count(*) FROM signed_prekeys");
    REQUIRE(count->step().value());
    REQUIRE(count->column_int64(0) == 2);  // current and previous only
  }

  std::vector<PrekeyRecord> batch;
  for (std::uint32_t i = 0; i < 10; ++i) batch.push_back({i, to_bytes("opk" + std::to_string(i))});
  REQUIRE(prekeys.add_one_time_prekeys(r, batch).is_ok());
  REQUIRE(prekeys.add_one_time_prekeys(r, std::vector<PrekeyRecord>{{3, to_bytes("dup")}}).code() ==
          Code::kAlreadyExists);
  REQUIRE(prekeys.one_time_prekey_count(r).value() == 10);

  std::set<std::uint32_t> seen;
  for (int i = 0; i < 10; ++i) {
    auto claimed = prekeys.claim_one_time_prekey(r).value();
    REQUIRE(claimed.has_value());
    REQUIRE(seen.insert(claimed->id).second);
    REQUIRE(to_string(claimed->record) == "opk" + std::to_string(claimed->id));
  }
  REQUIRE_FALSE(prekeys.claim_one_time_prekey(r).value().has_value());
  REQUIRE(prekeys.one_time_prekey_count(r).value() == 0);

  // find leaves the prekey in place and offers ids in order; consume deletes by id.
  REQUIRE(prekeys.add_one_time_prekeys(r, batch).is_ok());
  std::vector<std::uint32_t> tried;
  auto found = prekeys
                   .find_one_time_prekey(r,
                                         [&](std::uint32_t id) {
                                           tried.push_back(id);
                                           return id >= 2;
                                         })
                   .value();
  REQUIRE(found.has_value());
  CHECK(found->id == 2);
  CHECK(to_string(found->record) == "opk2");
  CHECK(tried == std::vector<std::uint32_t>{0, 1, 2});
  CHECK_FALSE(
      prekeys.find_one_time_prekey(r, [](std::uint32_t) { return false; }).value().has_value());
  CHECK(prekeys.one_time_prekey_count(r).value() == 10);
  CHECK(prekeys.consume_one_time_prekey(r, 2).value());
  CHECK_FALSE(prekeys.consume_one_time_prekey(r, 2).value());  // already gone
  CHECK(prekeys.one_time_prekey_count(r).value() == 9);
  for (std::uint32_t i = 0; i < 10; ++i) (void)prekeys.consume_one_time_prekey(r, i).value();
  REQUIRE(prekeys.one_time_prekey_count(r).value() == 0);

  std::vector<PrekeyRecord> flood;
  for (std::uint32_t i = 0; i <= kMaxOneTimePrekeys; ++i) flood.push_back({i, to_bytes("k")});
  REQUIRE(prekeys.add_one_time_prekeys(r, flood).code() == Code::kLimitExceeded);
  REQUIRE(prekeys.one_time_prekey_count(r).value() == 0);  // all or nothing
  REQUIRE(prekeys.put_signed_prekey(Bytes(), {1, to_bytes("x")}, kNow).code() ==
          Code::kInvalidArgument);
  REQUIRE(prekeys.put_signed_prekey(r, {1, Bytes(kMaxPrekeyRecordBytes + 1)}, kNow).code() ==
          Code::kLimitExceeded);

  REQUIRE(prekeys.remove_responder(r).is_ok());
  REQUIRE(prekeys.current_signed_prekey(r).status().code() == Code::kNotFound);
}

TEST_CASE("roster: epochs only move forward, certificates by responder", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  RosterStore& roster = storage->stores().roster;
  REQUIRE(roster.latest_roster().status().code() == Code::kNotFound);
  REQUIRE(roster.put_roster(1, as_bytes("r1"), kNow).is_ok());
  REQUIRE(roster.put_roster(2, as_bytes("r2"), kNow).is_ok());
  REQUIRE(roster.put_roster(2, as_bytes("r2'"), kNow).code() == Code::kConflict);
  REQUIRE(roster.put_roster(1, as_bytes("old"), kNow).code() == Code::kConflict);
  REQUIRE(roster.put_roster(5, as_bytes("r5"), kNow).is_ok());
  auto latest = roster.latest_roster().value();
  REQUIRE(latest.epoch == 5);
  REQUIRE(to_string(latest.signed_roster) == "r5");
  {
    auto count = storage->db().prepare("SELECT group_concat(epoch) FROM rosters");
    REQUIRE(count->step().value());
    REQUIRE(count->column_text(0) == "2,5");
  }

  REQUIRE(roster.put_certificate(as_bytes("r-a"), as_bytes("cert-a")).is_ok());
  REQUIRE(roster.put_certificate(as_bytes("r-b"), as_bytes("cert-b")).is_ok());
  REQUIRE(roster.put_certificate(as_bytes("r-a"), as_bytes("cert-a2")).is_ok());
  REQUIRE(to_string(roster.certificate(as_bytes("r-a")).value()) == "cert-a2");
  REQUIRE(roster.certificates().value().size() == 2);
  REQUIRE(roster.remove_certificate(as_bytes("r-a")).is_ok());
  REQUIRE(roster.certificate(as_bytes("r-a")).status().code() == Code::kNotFound);
}

TEST_CASE("org records: stored as sealed, listed, removed after export", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  RecordStore& records = storage->stores().records;
  auto first = records.append(as_bytes("sealed-1"), kNow).value();
  auto second = records.append(as_bytes("sealed-2"), kNow + 600).value();
  REQUIRE(first != second);
  auto list = records.list(10).value();
  REQUIRE(list.size() == 2);
  REQUIRE(to_string(list[0].sealed_record) == "sealed-1");
  REQUIRE(list[0].created_minute == to_minute(kNow));
  REQUIRE(records.remove(first).is_ok());
  REQUIRE(records.list(10).value().size() == 1);
  REQUIRE(records.append({}, kNow).status().code() == Code::kLimitExceeded);
}

TEST_CASE("counters: sealed cells, increments, closed vocabularies", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  CounterStore& counters = storage->stores().counters;
  REQUIRE(month_of(0) == 197001);
  REQUIRE(month_of(1'709'251'199) == 202402);  // 2024-02-29T23:59:59Z
  REQUIRE(month_of(1'709'251'200) == 202403);

  CounterKey shelter{202611, "shelter", "referred", "east-slavic"};
  CounterKey legal{202611, "legal", "resolved", "east-slavic"};
  REQUIRE(counters.increment(shelter).is_ok());
  REQUIRE(counters.increment(shelter).is_ok());
  REQUIRE(counters.increment(legal, 3).is_ok());
  auto cells = counters.list().value();
  REQUIRE(cells.size() == 2);
  REQUIRE(cells[0].key == legal);
  REQUIRE(cells[0].count == 3);
  REQUIRE(cells[1].key == shelter);
  REQUIRE(cells[1].count == 2);

  REQUIRE(storage->db().checkpoint_truncate().is_ok());
  REQUIRE_FALSE(contains(raw_database(*storage), as_bytes("east-slavic")));

  CounterKey free_text = shelter;
  free_text.need = "She said her name was Anna";
  REQUIRE(counters.increment(free_text).code() == Code::kInvalidArgument);
  CounterKey bad_month = shelter;
  bad_month.month = 202613;
  REQUIRE(counters.increment(bad_month).code() == Code::kInvalidArgument);
  REQUIRE(counters.increment(shelter, 0).code() == Code::kInvalidArgument);
}

TEST_CASE("counters: an increment that would overflow is refused and changes nothing",
          "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  CounterStore& counters = storage->stores().counters;
  CounterKey cell{202611, "shelter", "referred", "east-slavic"};
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  REQUIRE(counters.increment(cell, kMax - 1).is_ok());
  REQUIRE(counters.increment(cell, 1).is_ok());
  REQUIRE(counters.increment(cell, 1).code() == Code::kLimitExceeded);
  REQUIRE(counters.increment(cell, kMax).code() == Code::kLimitExceeded);
  REQUIRE(counters.list().value().at(0).count == kMax);
}

TEST_CASE("audit log: hash chain verifies and detects tampering", "[storage]") {
  test::TempDir dir;
  auto storage = open_storage(dir.path());
  AuditLog& audit = storage->stores().audit;
  REQUIRE(audit.verify_chain().value().seq == 0);
  for (int i = 1; i <= 5; ++i) {
    auto entry = audit.append("certify", "responder r" + std::to_string(i), kNow + i * 60);
    REQUIRE(entry.is_ok());
    REQUIRE(entry->seq == i);
  }
  auto head = audit.verify_chain();
  REQUIRE(head.is_ok());
  REQUIRE(head->seq == 5);
  REQUIRE(audit.entries(3, 10).value().size() == 2);

  REQUIRE(audit.append("", "x", kNow).status().code() == Code::kInvalidArgument);
  REQUIRE(audit.append("login", "from 203.0.113.7", kNow).status().code() ==
          Code::kInvalidArgument);
  REQUIRE(audit.append("login", "from [2001:db8::1]:443", kNow).status().code() ==
          Code::kInvalidArgument);
  REQUIRE(audit.append("note", std::string(kMaxAuditTextBytes + 1, 'x'), kNow).status().code() ==
          Code::kLimitExceeded);

  Database& db = storage->db();
  SECTION("an edited entry") {
    REQUIRE(db.exec("UPDATE audit_log SET detail = 'responder evil' WHERE seq = 3").is_ok());
    auto broken = audit.verify_chain();
    REQUIRE(broken.status().code() == Code::kCorrupt);
    REQUIRE(broken.status().message().find("entry 3") != std::string::npos);
  }
  SECTION("a deleted entry") {
    REQUIRE(db.exec("DELETE FROM audit_log WHERE seq = 2").is_ok());
    REQUIRE(audit.verify_chain().status().code() == Code::kCorrupt);
  }
  SECTION("a recomputed plain hash, without the key") {
    // An attacker without the key file can only guess at the hash.
    REQUIRE(
        db.exec("UPDATE audit_log SET detail = 'x', hash = zeroblob(32) WHERE seq = 5").is_ok());
    REQUIRE(audit.verify_chain().status().code() == Code::kCorrupt);
  }
}

}  // namespace
}  // namespace hearth::storage
