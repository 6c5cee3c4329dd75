// Shared set-up for the client library's end-to-end tests (relay_*_test.cpp):
// a TestOrg, a real hearthd (HearthdProcess), responder stores in a temporary
// directory, and helpers that poll a session until what a test waits for
// arrives.
//
// Thread safety: none; one test thread (plus what a test starts itself).
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "clients/lib/connection.h"
#include "clients/lib/responder_session.h"
#include "clients/lib/responder_store.h"
#include "clients/lib/survivor_session.h"
#include "tests/integration/support/hearthd_process.h"
#include "tests/integration/support/test_org.h"
#include "tests/support/test_support.h"

namespace hearth::test {

inline constexpr std::string_view kStorePassphrase = "a long responder passphrase";
inline constexpr auto kWait = std::chrono::seconds(20);

inline protocol::RouteEnvelope shelter_request() {
  protocol::RouteEnvelope e;
  e.needs = {protocol::Need::kShelter};
  e.urgency = protocol::Urgency::kToday;
  e.languages = {"en"};
  e.mode = protocol::Mode::kLive;
  return e;
}

struct Relay {
  TestOrg org;
  TempDir stores;
  std::unique_ptr<HearthdProcess> hearthd;

  explicit Relay(nlohmann::json overrides = nlohmann::json::object()) {
    // Responders are added by the test before start().
    overrides_ = std::move(overrides);
  }

  void start() {
    if (!hearthd) hearthd = std::make_unique<HearthdProcess>(org, overrides_);
    hearthd->start();
  }

  client::Endpoint endpoint() const {
    return {"ws://127.0.0.1:" + std::to_string(hearthd->port()) + "/v1/ws", {}};
  }

  std::unique_ptr<client::ResponderStore> create_store(const TestResponder& r) {
    auto store =
        client::ResponderStore::create(stores.path() / r.id, kStorePassphrase, r.signing,
                                       r.identity, r.certificate_bytes(), org.root.public_key());
    REQUIRE(store.is_ok());
    return std::move(store).value();
  }

  std::unique_ptr<client::ResponderSession> login(client::ResponderStore& store) {
    auto session = client::ResponderSession::login(endpoint(), store);
    INFO(session.status().to_string());
    REQUIRE(session.is_ok());
    return std::move(session).value();
  }

  client::SurvivorSession::Started open_case(std::string_view first_text) {
    auto started = client::SurvivorSession::start(endpoint(), org.root.public_key(),
                                                  shelter_request(), first_text);
    INFO(started.status().to_string());
    REQUIRE(started.is_ok());
    return std::move(started).value();
  }

  std::unique_ptr<client::SurvivorSession> resume(const crypto::Codename& codename) {
    auto session = client::SurvivorSession::resume(endpoint(), org.root.public_key(), codename);
    INFO(session.status().to_string());
    REQUIRE(session.is_ok());
    return std::move(session).value();
  }

 private:
  nlohmann::json overrides_;
};

// What Session::poll() returns a vector of (SurvivorUpdate, ResponderUpdate).
template <typename Session>
using UpdateOf = typename std::decay_t<
    decltype(std::declval<Session&>().poll(std::chrono::milliseconds(0)).value())>::value_type;

// Polls `session` until `done(updates so far)` holds or `wait` passes; returns
// every update seen.
template <typename Session>
std::vector<UpdateOf<Session>> poll_until(
    Session& session, const std::function<bool(const std::vector<UpdateOf<Session>>&)>& done,
    std::chrono::milliseconds wait = kWait) {
  std::vector<UpdateOf<Session>> seen;
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (!done(seen) && std::chrono::steady_clock::now() < deadline) {
    auto updates = session.poll(std::chrono::milliseconds(100));
    INFO(updates.status().to_string());
    REQUIRE(updates.is_ok());
    for (auto& u : updates.value()) seen.push_back(std::move(u));
  }
  return seen;
}

template <typename U>
std::size_t count_kind(const std::vector<U>& updates, typename U::Kind kind) {
  std::size_t n = 0;
  for (const U& u : updates) n += u.kind == kind ? 1 : 0;
  return n;
}

template <typename U>
std::vector<std::string> texts(const std::vector<U>& updates, typename U::Kind kind) {
  std::vector<std::string> out;
  for (const U& u : updates) {
    if (u.kind == kind) out.push_back(u.message.payload);
  }
  return out;
}

// take_next for `responder`, which must hand out `case_id`, then polls until
// its intake copy is read; returns every update seen (kNewCase among them).
inline std::vector<client::ResponderUpdate> take_case(client::ResponderSession& responder,
                                                      const Bytes& case_id) {
  auto taken = responder.take_next();
  INFO(taken.status().to_string());
  REQUIRE(taken.is_ok());
  REQUIRE(taken.value().has_value());
  REQUIRE(taken.value()->case_id == case_id);
  return poll_until(responder, [](const std::vector<client::ResponderUpdate>& u) {
    return count_kind(u, client::ResponderUpdate::Kind::kNewCase) >= 1;
  });
}

// The codename as the survivor would type it back.
inline crypto::Codename retype(const crypto::Codename& codename) {
  return crypto::Codename::parse(to_string(codename.normalized())).value();
}

// True when `needle` occurs anywhere in the file's bytes.
inline bool file_contains(const std::filesystem::path& path, std::string_view needle) {
  auto bytes = read_file(path);
  return bytes && bytes->find(needle) != std::string::npos;
}

// Every file hearthd has: config, roster, database, WAL, log.
inline std::vector<std::filesystem::path> server_files(const HearthdProcess& hearthd) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(hearthd.dir())) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

// No file of hearthd's (database, WAL, log, config) holds any of `secrets`.
inline void check_no_secrets(const HearthdProcess& hearthd,
                             const std::vector<std::string>& secrets) {
  bool saw_database = false;
  for (const std::filesystem::path& file : server_files(hearthd)) {
    saw_database = saw_database || file.filename() == "hearth.db";
    for (const std::string& secret : secrets) {
      INFO(file.string() << " must not contain a message or the codename");
      CHECK_FALSE(file_contains(file, secret));
    }
  }
  CHECK(saw_database);
}

}  // namespace hearth::test
