// Triage: what the waiting room costs hearthd as it grows (docs/performance.md,
// "Triage"). hearthd runs Dispatcher::tick() + positions_changed() + waiting_for()
// for every connected responder after each change to the waiting room, under
// the hub's lock; this measures that refresh (the first one after the adds,
// which meets every arrival's escalations at once, then steady ones two
// seconds apart) and take_next() against the number of waiting cases, with
// the shipped default rules.
//
//   triage_bench [--responders N]   (default 20)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "triage/dispatcher.h"
#include "triage/rules.h"

namespace {

using namespace hearth;
// CPU time of this thread: the machine the figures come from is shared,
// and wall time there measures the neighbours as much as the waiting room.
struct Steady {
  using time_point = std::chrono::duration<double, std::milli>;
  static time_point now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6);
  }
};

constexpr protocol::Need kNeeds[] = {protocol::Need::kImmediateSafety,
                                     protocol::Need::kShelter,
                                     protocol::Need::kMedical,
                                     protocol::Need::kCounselling,
                                     protocol::Need::kLegal,
                                     protocol::Need::kImmigration,
                                     protocol::Need::kWorkEducation,
                                     protocol::Need::kPeerSupport,
                                     protocol::Need::kCulturallySpecific};
constexpr protocol::Urgency kUrgencies[] = {protocol::Urgency::kDangerNow,
                                            protocol::Urgency::kToday, protocol::Urgency::kThisWeek,
                                            protocol::Urgency::kInformation};
const char* const kLanguages[] = {"en", "es", "fr", "ar"};

double ms_since(Steady::time_point t0) { return (Steady::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  int responders = 20;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--responders") == 0) responders = std::atoi(argv[i + 1]);
  }
  if (responders < 1) {
    std::fprintf(stderr, "usage: triage_bench [--responders N]\n");
    return 2;
  }
  auto rules = triage::parse_rules(triage::default_rules_json());
  if (!rules.is_ok()) return 1;
  const auto queues = rules->queues();
  std::printf("default rules, %d responders (all queues, en + one more language)\n", responders);
  std::printf("%8s %14s %16s %14s %14s\n", "waiting", "add (us)", "catch-up (ms)", "refresh (ms)",
              "take_next (us)");

  for (int waiting : {100, 1000, 10000}) {
    triage::Dispatcher d(*rules);
    std::vector<std::string> ids;
    for (int r = 0; r < responders; ++r) {
      triage::ResponderView v;
      v.id = "r" + std::to_string(r);
      v.queues = queues;
      v.languages = {"en", kLanguages[1 + r % 3]};
      v.available = true;
      v.capacity = 50;
      d.upsert_responder(v);
      ids.push_back(v.id);
    }
    std::mt19937_64 rng(7);
    UnixSeconds now = 1'790'000'000;
    auto t0 = Steady::now();
    for (int i = 0; i < waiting; ++i) {
      protocol::RouteEnvelope e;
      e.needs = {kNeeds[rng() % 9]};
      e.urgency = kUrgencies[rng() % 4];
      e.languages = {kLanguages[rng() % 4]};
      auto decision = d.preview(e, now);
      Bytes key(16);
      for (auto& b : key) b = static_cast<std::uint8_t>(rng());
      d.add(key, e, decision, ids, now);
      now += 1;
    }
    const double add_us = ms_since(t0) * 1000.0 / waiting;
    // The first refresh after the adds: every case added since the last one
    // is looked at again, and the arrivals' escalations (one second apart,
    // timeouts of 30 s to hours) all fall due at once. hearthd refreshes at
    // least every 250 ms, so it meets these changes spread out.
    t0 = Steady::now();
    now += 2;
    d.tick(now);
    std::vector<triage::Position> changed;  // kept between refreshes, as hearthd does
    std::size_t sink = d.positions_changed(now, changed);
    for (const auto& id : ids) sink += d.waiting_for(id, now).first;
    const double catch_up_ms = ms_since(t0);
    // One refresh as hearthd does it: tick, positions, each responder's count.
    constexpr int kRefreshes = 20;
    t0 = Steady::now();
    for (int i = 0; i < kRefreshes; ++i) {
      now += 2;
      d.tick(now);
      sink += d.positions_changed(now, changed);
      for (const auto& id : ids) sink += d.waiting_for(id, now).first;
    }
    const double refresh_ms = ms_since(t0) / kRefreshes;
    constexpr int kTakes = 50;
    t0 = Steady::now();
    for (int i = 0; i < kTakes; ++i) {
      auto taken = d.take_next(ids[static_cast<std::size_t>(i) % ids.size()], now);
      sink += taken ? 1 : 0;
    }
    const double take_us = ms_since(t0) * 1000.0 / kTakes;
    std::printf("%8d %14.1f %16.2f %14.2f %14.1f%s\n", waiting, add_us, catch_up_ms, refresh_ms,
                take_us, sink == 0 ? " (nothing taken?)" : "");
  }
  return 0;
}
