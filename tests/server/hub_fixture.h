// Shared fixtures for RelayHub's seam tests: a hub on a ManualClock and a
// steady time the test advances, an organisation with real certificates and
// signed rosters at that time (tests/integration/support/test_org.h), small rules, open
// cases, and RecordingPeer — a real Peer that records what it is sent.
//
// Thread safety: RecordingPeer may be called from any thread (it locks);
// the rest is for one test thread.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "crypto/trust.h"
#include "host/case_record.h"
#include "server/relay_hub.h"
#include "storage/types.h"
#include "tests/integration/support/test_org.h"
#include "triage/rules.h"

namespace hearth::server::test {

inline constexpr UnixSeconds kT0 = 1'790'000'000;

// Danger now: the "safety" queue in the survivor's language for 30 s, then
// anyone in "general". Everything else: "general" in the survivor's
// language for 300 s, then anyone there.
inline constexpr std::string_view kHubRules = R"json({
  "version": 1,
  "classes": [{"name": "danger-now", "strict": true, "target_s": 60},
              {"name": "today", "rate": 4, "target_s": 900}],
  "filters": [
    {"name": "danger", "when": {"urgency": ["danger-now"]}, "targets": [
      {"queue": "safety", "eligible": "language", "class": "danger-now", "timeout_s": 30},
      {"queue": "general", "eligible": "anyone", "class": "danger-now"}]}],
  "default": [{"queue": "general", "eligible": "language", "class": "today", "timeout_s": 300},
              {"queue": "general", "eligible": "anyone", "class": "today"}],
  "outcomes": ["referred"],
  "away_grace_s": 600,
  "handle_s": 600
})json";

inline triage::Rules hub_rules() {
  auto rules = triage::parse_rules(kHubRules);
  REQUIRE(rules.is_ok());
  return std::move(rules).value();
}

inline protocol::RouteEnvelope envelope(std::string language,
                                        protocol::Urgency urgency = protocol::Urgency::kToday) {
  protocol::RouteEnvelope e;
  e.needs = {protocol::Need::kShelter};
  e.urgency = urgency;
  e.languages = {std::move(language)};
  return e;
}

// A steady time the test moves (RelayHub's refresh spacing follows it).
struct SteadyTime {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  void advance(std::chrono::milliseconds d) { now += d; }
  SteadyNow source() {
    return [this] { return now; };
  }
};

// A connected session as the hub sees it: records every call.
class RecordingPeer final : public Peer {
 public:
  void push_delivery(std::shared_ptr<const Delivery> delivery) override {
    if (on_call) on_call();
    std::lock_guard lock(mu_);
    deliveries_.push_back(std::move(delivery));
  }
  void push_case_claimed(const storage::CaseId& case_id, Bytes, std::string) override {
    if (on_call) on_call();
    std::lock_guard lock(mu_);
    claimed_.push_back(case_id);
  }
  void push_case_closed(const storage::CaseId& case_id, protocol::CloseReason) override {
    if (on_call) on_call();
    std::lock_guard lock(mu_);
    closed_.push_back(case_id);
  }
  void push_event(protocol::Event event) override {
    if (on_call) on_call();
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  void roster_changed(std::shared_ptr<const RosterState>) override {
    if (on_call) on_call();
    std::lock_guard lock(mu_);
    ++roster_changes_;
  }
  void shut_down() override {
    if (on_call) on_call();
    std::lock_guard lock(mu_);
    ++shut_downs_;
  }

  std::size_t deliveries() const {
    std::lock_guard lock(mu_);
    return deliveries_.size();
  }
  std::size_t shut_downs() const {
    std::lock_guard lock(mu_);
    return shut_downs_;
  }
  // The events of type E received so far, and forgets every event.
  template <typename E>
  std::vector<E> take_events() {
    std::lock_guard lock(mu_);
    std::vector<E> out;
    for (const auto& e : events_) {
      if (const E* x = std::get_if<E>(&e)) out.push_back(*x);
    }
    events_.clear();
    return out;
  }

  // Run at the start of every call (a test re-entering the hub from a Peer).
  std::function<void()> on_call;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const Delivery>> deliveries_;
  std::vector<storage::CaseId> claimed_;
  std::vector<storage::CaseId> closed_;
  std::vector<protocol::Event> events_;
  std::size_t roster_changes_ = 0;
  std::size_t shut_downs_ = 0;
};

// A hub with rules, on test time, and an organisation to fill its roster.
struct HubWorld {
  ManualClock clock{kT0};
  SteadyTime steady;
  RelayHub hub{clock, steady.source()};
  hearth::test::TestOrg org{kT0};

  HubWorld() { hub.set_rules(hub_rules()); }

  // The org's roster (every responder listed, `revoked` revoked), verified
  // now, as the server holds it.
  std::shared_ptr<const RosterState> roster(std::uint64_t epoch, std::vector<Bytes> revoked = {}) {
    crypto::SignedRoster signed_roster = org.roster(epoch, std::move(revoked));
    auto verified = crypto::verify_roster(org.root.public_key(), signed_roster, clock.now());
    REQUIRE(verified.is_ok());
    return std::make_shared<RosterState>(RosterState{std::move(*verified), signed_roster.encode()});
  }
  static KnownCertificate known(const hearth::test::TestResponder& r) {
    return KnownCertificate{r.certificate, r.certificate_bytes(), r.certificate_hash()};
  }
  // A responder listed in the roster in force, seen at a login, online.
  void log_in(const hearth::test::TestResponder& r) {
    hub.remember_certificate(known(r));
    hub.responder_online(r.id);
  }

  // An open, unclaimed case of `vault` with routing, offered to `offered`;
  // in the hub's cases (not yet in the waiting room: track_case).
  OpenCase add_case(const Bytes& vault, protocol::RouteEnvelope e,
                    const std::vector<const hearth::test::TestResponder*>& offered) {
    OpenCase c;
    c.id = storage::random_id<storage::CaseId>();
    c.version = 1;
    c.opened_minute = to_minute(clock.now());
    c.record.queue = "general";
    c.record.vault_login_key = vault;
    for (const auto* r : offered) c.record.offers.push_back({r->certificate_hash(), r->id});
    CaseRouting routing;
    routing.envelope = std::move(e);
    routing.rules_version = 1;
    routing.arrived = clock.now();
    c.record.routing = std::move(routing);
    hub.add_case(c);
    return c;
  }
};

}  // namespace hearth::server::test
