// End to end through a real hearthd with the client library: a survivor and
// responders on loopback, real SQLite, real crypto. Each test starts its own
// hearthd on port 0.
#include <filesystem>
#include <optional>
#include <thread>

#include "tests/integration/relay_support.h"

namespace hearth::test {
namespace {

using client::protocol_error;
using R = client::ResponderUpdate::Kind;
using S = client::SurvivorUpdate::Kind;
namespace fs = std::filesystem;

// A taken case between `responder` and the survivor of `started`.
void claim_and_confirm(client::ResponderSession& responder,
                       client::SurvivorSession::Started& started) {
  auto offered = take_case(responder, started.case_id);
  REQUIRE(count_kind(offered, R::kNewCase) == 1);
  auto claimed =
      poll_until(*started.session, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  REQUIRE(count_kind(claimed, S::kClaimed) == 1);
}

TEST_CASE("a survivor and a responder read each other and the server keeps no plaintext",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  CHECK(responder->info().responder_id == "ana");
  CHECK(responder->info().queues == std::vector<std::string>{"shelter"});
  CHECK(responder->info().uploaded_signed_prekey);
  CHECK(responder->info().one_time_prekeys == client::kOneTimePrekeyTarget);
  CHECK(responder->info().roster_expires_in_hours > 24 * 13);
  CHECK(responder->info().warnings.empty());

  const std::string first = "I need a safe place tonight [plain-1]";
  auto started = relay.open_case(first);
  CHECK(started.responders == 1);
  CHECK(started.queue == "shelter");
  CHECK(started.session->vault_version() == 1);

  // The responder hears that a case waits, and reads it only once it is theirs.
  auto told = poll_until(*responder, [](auto& u) { return count_kind(u, R::kWaiting) >= 1; });
  REQUIRE(count_kind(told, R::kWaiting) >= 1);
  CHECK(count_kind(told, R::kNewCase) == 0);
  auto taken = responder->take_next();
  REQUIRE(taken.is_ok());
  REQUIRE(taken.value().has_value());
  CHECK(taken.value()->queue == "shelter");
  CHECK(taken.value()->case_id == started.case_id);
  auto offered = poll_until(*responder, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  REQUIRE(texts(offered, R::kNewCase) == std::vector<std::string>{first});
  CHECK(offered.back().case_id == started.case_id);
  // The one-time prekey the intake used is gone from the store.
  CHECK(store->state().one_time_prekeys.size() == client::kOneTimePrekeyTarget - 1);

  auto claimed =
      poll_until(*started.session, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  REQUIRE(count_kind(claimed, S::kClaimed) == 1);

  const std::string reply = "We have a bed for you [plain-2]";
  REQUIRE(responder->send(started.case_id, reply).is_ok());
  auto got = poll_until(*started.session, [](auto& u) { return count_kind(u, S::kMessage) >= 1; });
  CHECK(texts(got, S::kMessage) == std::vector<std::string>{reply});

  const std::string thanks = "Thank you, where do I go? [plain-3]";
  REQUIRE(started.session->send(started.case_id, thanks).is_ok());
  auto back = poll_until(*responder, [](auto& u) { return count_kind(u, R::kMessage) >= 1; });
  CHECK(texts(back, R::kMessage) == std::vector<std::string>{thanks});

  // Both sides keep the conversation: the survivor in the vault, the responder in its store.
  const auto& vault_case = *started.session->vault().find(started.case_id);
  REQUIRE(vault_case.transcript.size() == 3);
  CHECK(vault_case.transcript[0].plaintext.payload == first);
  CHECK(vault_case.transcript[1].author == client::Author::kResponder);
  CHECK(vault_case.transcript[2].plaintext.payload == thanks);
  CHECK(vault_case.sessions.size() == 1);
  const auto& store_case = *store->state().find(started.case_id);
  CHECK(store_case.claimed);
  CHECK(store_case.transcript.size() == 3);

  const std::vector<std::string> secrets = {"[plain-1]", "[plain-2]", "[plain-3]", "safe place",
                                            to_string(started.codename.normalized())};
  check_no_secrets(*relay.hearthd, secrets);  // while running: the WAL holds the recent writes
  CHECK(relay.hearthd->terminate() == 0);
  check_no_secrets(*relay.hearthd, secrets);
}

TEST_CASE("a responder who was away gets the survivor's messages in order",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("hello, is anyone there?");
  claim_and_confirm(*responder, started);

  // The responder's console closes; its store is reopened from disk later.
  responder.reset();
  store.reset();
  for (const char* text : {"one", "two", "three"}) {
    INFO(text);
    REQUIRE(started.session->send(started.case_id, text).is_ok());
  }

  store = client::ResponderStore::open(relay.stores.path() / "ana", kStorePassphrase).value();
  responder = relay.login(*store);
  auto got = poll_until(*responder, [](auto& u) { return count_kind(u, R::kMessage) >= 3; });
  CHECK(texts(got, R::kMessage) == std::vector<std::string>{"one", "two", "three"});

  // And the conversation goes on from the restored ratchet.
  REQUIRE(responder->send(started.case_id, "I am back").is_ok());
  auto reply =
      poll_until(*started.session, [](auto& u) { return count_kind(u, S::kMessage) >= 1; });
  CHECK(texts(reply, S::kMessage) == std::vector<std::string>{"I am back"});
}

TEST_CASE("a survivor comes back by codename from a fresh client and continues",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  const std::string first = "I had to leave in a hurry";
  auto started = relay.open_case(first);
  claim_and_confirm(*responder, started);
  REQUIRE(responder->send(started.case_id, "reply while you were away").is_ok());

  // The survivor closes the page before the reply arrives.
  const Bytes case_id = started.case_id;
  started.session.reset();

  auto back = relay.resume(retype(started.codename));
  REQUIRE(back->vault().cases.size() == 1);
  const auto& c = back->vault().cases[0];
  CHECK(c.case_id == case_id);
  REQUIRE(c.claimed_by.has_value());
  CHECK(*c.claimed_by == ana.certificate_hash());
  auto got = poll_until(*back, [](auto& u) { return count_kind(u, S::kMessage) >= 1; });
  CHECK(texts(got, S::kMessage) == std::vector<std::string>{"reply while you were away"});

  REQUIRE(back->send(case_id, "back again").is_ok());
  auto seen = poll_until(*responder, [](auto& u) { return count_kind(u, R::kMessage) >= 1; });
  CHECK(texts(seen, R::kMessage) == std::vector<std::string>{"back again"});

  // Another fresh client: everything is in the vault, nothing is delivered twice.
  back.reset();
  auto again = relay.resume(retype(started.codename));
  auto none = poll_until(
      *again, [](auto&) { return false; }, std::chrono::milliseconds(1000));
  CHECK(count_kind(none, S::kMessage) == 0);
  const auto& transcript = again->vault().cases.at(0).transcript;
  REQUIRE(transcript.size() == 3);
  CHECK(transcript[0].plaintext.payload == first);
  CHECK(transcript[1].plaintext.payload == "reply while you were away");
  CHECK(transcript[2].plaintext.payload == "back again");
}

TEST_CASE("after SIGKILL and restart every acknowledged send arrives, nothing acked returns",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("please help");
  claim_and_confirm(*responder, started);
  const Bytes case_id = started.case_id;

  // Delivered and acknowledged before the crash.
  REQUIRE(responder->send(case_id, "a1").is_ok());
  REQUIRE(responder->send(case_id, "a2").is_ok());
  auto early =
      poll_until(*started.session, [](auto& u) { return count_kind(u, S::kMessage) >= 2; });
  REQUIRE(texts(early, S::kMessage) == std::vector<std::string>{"a1", "a2"});
  const std::int64_t acked_seq = started.session->vault().find(case_id)->received_seq;
  // Acknowledged by the server (committed), not yet received.
  REQUIRE(responder->send(case_id, "a3").is_ok());
  REQUIRE(responder->send(case_id, "a4").is_ok());
  REQUIRE(started.session->send(case_id, "s1").is_ok());
  REQUIRE(started.session->send(case_id, "s2").is_ok());

  relay.hearthd->kill();
  started.session.reset();
  responder.reset();
  relay.hearthd->start();  // same data directory, a new port

  // What the server pushes after the vault login, before the client touches it.
  auto survivor = relay.resume(retype(started.codename));
  std::vector<protocol::EnvelopeEvent> pushed;
  // Until both have come (a loaded machine may take a while), then a quiet
  // half second in which nothing more may come.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::optional<std::chrono::steady_clock::time_point> quiet_until;
  while (std::chrono::steady_clock::now() < quiet_until.value_or(deadline)) {
    if (!quiet_until && pushed.size() >= 2)
      quiet_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    auto next = survivor->connection().next_event(std::chrono::milliseconds(100));
    REQUIRE(next.is_ok());
    if (!next->has_value()) continue;
    if (auto* ev = std::get_if<protocol::Event>(&**next)) {
      if (auto* env = std::get_if<protocol::EnvelopeEvent>(ev)) pushed.push_back(*env);
    }
  }
  REQUIRE(pushed.size() == 2);
  for (const auto& env : pushed) CHECK(env.seq > acked_seq);
  CHECK(pushed[0].seq < pushed[1].seq);

  // A fresh login gets the same two again; the session stores and acks them.
  REQUIRE(survivor->reconnect().is_ok());
  auto late = poll_until(*survivor, [](auto& u) { return count_kind(u, S::kMessage) >= 2; });
  CHECK(texts(late, S::kMessage) == std::vector<std::string>{"a3", "a4"});

  responder = relay.login(*store);
  auto got = poll_until(*responder, [](auto& u) { return count_kind(u, R::kMessage) >= 2; });
  CHECK(texts(got, R::kMessage) == std::vector<std::string>{"s1", "s2"});

  // Once acknowledged, nothing comes back after another login.
  survivor.reset();
  auto again = relay.resume(retype(started.codename));
  auto none = poll_until(
      *again, [](auto&) { return false; }, std::chrono::milliseconds(1000));
  CHECK(count_kind(none, S::kMessage) == 0);
}

TEST_CASE("a vault login with a wrong codename is auth_failed", "[integration][relay]") {
  Relay relay;
  relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto wrong = client::SurvivorSession::resume(relay.endpoint(), relay.org.root.public_key(),
                                               crypto::Codename::draw());
  REQUIRE_FALSE(wrong.is_ok());
  CHECK(wrong.status().code() == Code::kAuthFailed);
  CHECK(protocol_error(wrong.status()) == protocol::ErrorCode::kAuthFailed);
}

TEST_CASE("two responders race for one case: one takes it, the other gets nothing",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  auto& ben = relay.org.add_responder("ben", {"shelter"});
  relay.start();
  auto ana_store = relay.create_store(ana);
  auto ben_store = relay.create_store(ben);
  auto ana_session = relay.login(*ana_store);
  auto ben_session = relay.login(*ben_store);

  auto started = relay.open_case("whoever is free, please");
  CHECK(started.responders == 2);
  CHECK(started.session->vault().find(started.case_id)->sessions.size() == 2);

  std::optional<Result<std::optional<protocol::TakenCase>>> ana_take;
  std::optional<Result<std::optional<protocol::TakenCase>>> ben_take;
  {
    std::thread a([&] { ana_take.emplace(ana_session->take_next()); });
    std::thread b([&] { ben_take.emplace(ben_session->take_next()); });
    a.join();
    b.join();
  }
  REQUIRE(ana_take->is_ok());
  REQUIRE(ben_take->is_ok());
  REQUIRE(ana_take->value().has_value() != ben_take->value().has_value());
  const bool ana_won = ana_take->value().has_value();
  auto& winner = ana_won ? ana_session : ben_session;
  auto& loser = ana_won ? ben_session : ana_session;
  const auto& winner_hash = ana_won ? ana.certificate_hash() : ben.certificate_hash();

  auto got_intake = poll_until(*winner, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  CHECK(texts(got_intake, R::kNewCase) == std::vector<std::string>{"whoever is free, please"});
  // The other never reads a word of it.
  auto nothing = poll_until(
      *loser, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; },
      std::chrono::milliseconds(500));
  CHECK(count_kind(nothing, R::kNewCase) == 0);
  CHECK(loser->state().find(started.case_id) == nullptr);
  CHECK(loser->send(started.case_id, "too late").code() == Code::kNotFound);

  auto claimed =
      poll_until(*started.session, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  REQUIRE(count_kind(claimed, S::kClaimed) == 1);
  const auto& c = *started.session->vault().find(started.case_id);
  REQUIRE(c.claimed_by.has_value());
  CHECK(*c.claimed_by == winner_hash);
  CHECK(c.sessions.size() == 1);

  REQUIRE(winner->send(started.case_id, "I'm here").is_ok());
  auto got = poll_until(*started.session, [](auto& u) { return count_kind(u, S::kMessage) >= 1; });
  CHECK(texts(got, S::kMessage) == std::vector<std::string>{"I'm here"});
}

}  // namespace
}  // namespace hearth::test
