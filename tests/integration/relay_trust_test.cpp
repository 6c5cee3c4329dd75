// Trust checks the client library makes against a real hearthd: rosters that
// roll back, split the view, expire soon or chain to another org; and signed
// prekey rotation.
#include <thread>

#include "common/clock.h"
#include "tests/integration/relay_support.h"

namespace hearth::test {
namespace {

using R = client::ResponderUpdate::Kind;

TEST_CASE("a responder refuses a rolled-back roster and a split view", "[integration][relay]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  TempDir stores;
  auto store =
      client::ResponderStore::create(stores.path() / "ana", kStorePassphrase, ana.signing,
                                     ana.identity, ana.certificate_bytes(), org.root.public_key())
          .value();
  auto endpoint = [](const HearthdProcess& h) {
    return client::Endpoint{"ws://127.0.0.1:" + std::to_string(h.port()) + "/v1/ws", {}};
  };
  {
    HearthdProcess epoch2(org, nlohmann::json::object(), org.roster(2));
    epoch2.start();
    auto session = client::ResponderSession::login(endpoint(epoch2), *store);
    REQUIRE(session.is_ok());
    CHECK(session.value()->info().roster_epoch == 2);
  }
  REQUIRE(store->state().roster_pin.has_value());
  CHECK(store->state().roster_pin->epoch == 2);
  {
    // Another server (or the same one, compromised) serves an older roster.
    HearthdProcess epoch1(org, nlohmann::json::object(), org.roster(1));
    epoch1.start();
    auto session = client::ResponderSession::login(endpoint(epoch1), *store);
    REQUIRE_FALSE(session.is_ok());
    CHECK(session.status().code() == Code::kReplay);
    CHECK(session.status().message().find("rollback") != std::string::npos);
  }
  {
    // A different roster under the same epoch.
    HearthdProcess split(org, nlohmann::json::object(),
                         org.roster(2, {}, org.now + crypto::kDefaultRosterLifetime - 60));
    split.start();
    auto session = client::ResponderSession::login(endpoint(split), *store);
    REQUIRE_FALSE(session.is_ok());
    CHECK(session.status().code() == Code::kConflict);
    CHECK(session.status().message().find("split view") != std::string::npos);
  }
  CHECK(store->state().roster_pin->epoch == 2);
  {
    HearthdProcess epoch3(org, nlohmann::json::object(), org.roster(3));
    epoch3.start();
    auto session = client::ResponderSession::login(endpoint(epoch3), *store);
    REQUIRE(session.is_ok());
  }
  CHECK(store->state().roster_pin->epoch == 3);
  CHECK(store->state().accepted_rosters.size() == 2);
}

TEST_CASE("a survivor refuses a roster from another org and sends nothing",
          "[integration][relay]") {
  TestOrg ours;
  TestOrg other;  // what a server under someone else's control would present
  auto& mallory = other.add_responder("mallory", {"shelter"});
  HearthdProcess hearthd(other);
  hearthd.start();
  const client::Endpoint endpoint{"ws://127.0.0.1:" + std::to_string(hearthd.port()) + "/v1/ws",
                                  {}};
  TempDir stores;
  auto store = client::ResponderStore::create(stores.path() / "m", kStorePassphrase,
                                              mallory.signing, mallory.identity,
                                              mallory.certificate_bytes(), other.root.public_key())
                   .value();
  auto responder = client::ResponderSession::login(endpoint, *store).value();

  auto started = client::SurvivorSession::start(endpoint, ours.root.public_key(), shelter_request(),
                                                "this must not be sent");
  REQUIRE_FALSE(started.is_ok());
  CHECK(started.status().code() == Code::kAuthFailed);
  CHECK(started.status().message().find("org key") != std::string::npos);
  auto seen = poll_until(
      *responder, [](auto&) { return false; }, std::chrono::milliseconds(500));
  CHECK(count_kind(seen, R::kNewCase) == 0);
}

TEST_CASE("a roster close to expiry is reported with its hours left", "[integration][relay]") {
  TestOrg org;
  auto& ana = org.add_responder("ana", {"shelter"});
  HearthdProcess hearthd(org, nlohmann::json::object(), org.roster(1, {}, org.now + 30 * 3600));
  hearthd.start();
  TempDir stores;
  auto store =
      client::ResponderStore::create(stores.path() / "ana", kStorePassphrase, ana.signing,
                                     ana.identity, ana.certificate_bytes(), org.root.public_key())
          .value();
  auto session = client::ResponderSession::login(
                     {"ws://127.0.0.1:" + std::to_string(hearthd.port()) + "/v1/ws", {}}, *store)
                     .value();
  CHECK(session->info().roster_expires_in_hours >= 28);
  CHECK(session->info().roster_expires_in_hours <= 30);
  REQUIRE(session->info().warnings.size() == 1);
  CHECK(session->info().warnings[0].find("expires in") != std::string::npos);
}

TEST_CASE("the signed prekey is replaced after seven days and still answers intakes",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  {
    auto first = relay.login(*store);
    CHECK(first->info().uploaded_signed_prekey);
  }
  {
    auto same_day = relay.login(*store);
    CHECK_FALSE(same_day->info().uploaded_signed_prekey);  // the server has a fresh one
  }
  REQUIRE(store->state().signed_prekeys.size() == 1);
  CHECK(store->state().signed_prekeys[0].id == 1);

  ManualClock later(SystemClock().now() + 8 * 24 * 3600);
  client::ResponderOptions options;
  options.clock = &later;
  auto session = client::ResponderSession::login(relay.endpoint(), *store, options).value();
  CHECK(session->info().uploaded_signed_prekey);
  REQUIRE(store->state().signed_prekeys.size() == 2);
  CHECK(store->state().signed_prekeys.back().id == 2);
  CHECK(store->state().signed_prekeys.back().uploaded);

  auto started = relay.open_case("made with the new signed prekey");
  auto offered = take_case(*session, started.case_id);
  CHECK(texts(offered, R::kNewCase) == std::vector<std::string>{"made with the new signed prekey"});
}

}  // namespace
}  // namespace hearth::test

namespace hearth::test {
namespace {

TEST_CASE("a roster renewed while a responder is online is fetched when an intake names it",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  CHECK(responder->info().roster_epoch == 1);

  relay.hearthd->write_roster(relay.org.roster(2));
  relay.hearthd->hangup();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (relay.hearthd->log_events("roster_reloaded").empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE_FALSE(relay.hearthd->log_events("roster_reloaded").empty());

  // The survivor verifies epoch 2; the responder accepted only epoch 1 so far.
  auto started = relay.open_case("made under the renewed roster");
  auto offered = take_case(*responder, started.case_id);
  CHECK(texts(offered, R::kNewCase) == std::vector<std::string>{"made under the renewed roster"});
  CHECK(count_kind(offered, R::kWarning) == 0);
  CHECK(responder->info().roster_epoch == 2);
  CHECK(store->state().roster_pin->epoch == 2);
}

}  // namespace
}  // namespace hearth::test
