// The client library's triage API end to end against a real hearthd, with
// real crypto: take_next, a handoff declined then accepted with the history
// (the new responder reads it, the old one loses the case), with a summary
// and with new messages only, close with an outcome, the supervisor view,
// and a deletion reaching the responder who holds the case.
#include "tests/integration/relay_support.h"

namespace hearth::test {
namespace {

using client::protocol_error;
using R = client::ResponderUpdate::Kind;
using S = client::SurvivorUpdate::Kind;

TEST_CASE("take_next, a declined then accepted handoff with history, close",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  auto& ben = relay.org.add_responder("ben", {"legal"});
  relay.start();
  auto ana_store = relay.create_store(ana);
  auto ben_store = relay.create_store(ben);
  auto a = relay.login(*ana_store);
  auto b = relay.login(*ben_store);
  CHECK_FALSE(a->info().outcomes.empty());
  REQUIRE(a->set_presence(protocol::Presence::kAvailable, 3).is_ok());
  REQUIRE(b->set_presence(protocol::Presence::kAvailable, 3).is_ok());

  auto started = relay.open_case("first words [p1]");
  auto waiting = poll_until(*a, [](auto& u) { return count_kind(u, R::kWaiting) >= 1; });
  CHECK(count_kind(waiting, R::kWaiting) >= 1);
  auto qs = poll_until(
      *started.session, [](auto& u) { return count_kind(u, S::kQueueStatus) >= 1; },
      std::chrono::seconds(3));
  INFO("queue status updates: " << count_kind(qs, S::kQueueStatus));

  auto taken = a->take_next();
  INFO(taken.status().to_string());
  REQUIRE(taken.is_ok());
  REQUIRE(taken->has_value());
  CHECK((*taken)->queue == "shelter");
  CHECK((*taken)->case_id == started.case_id);
  auto nc = poll_until(*a, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  REQUIRE(texts(nc, R::kNewCase) == std::vector<std::string>{"first words [p1]"});
  for (auto& u : nc)
    if (u.kind == R::kNewCase) CHECK(u.taken.has_value());
  CHECK(ana_store->state().cases.at(0).queue == "shelter");
  auto cl = poll_until(*started.session, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  REQUIRE(count_kind(cl, S::kClaimed) == 1);
  REQUIRE(a->send(started.case_id, "hello from ana").is_ok());
  auto m = poll_until(*started.session, [](auto& u) { return count_kind(u, S::kMessage) >= 1; });
  REQUIRE(texts(m, S::kMessage) == std::vector<std::string>{"hello from ana"});
  REQUIRE(started.session->send(started.case_id, "second [p2]").is_ok());
  poll_until(*a, [](auto& u) { return count_kind(u, R::kMessage) >= 1; });

  // Decline first.
  REQUIRE(a->propose_handoff(started.case_id, "legal").is_ok());
  auto hp =
      poll_until(*started.session, [](auto& u) { return count_kind(u, S::kHandoffProposed) >= 1; });
  REQUIRE(count_kind(hp, S::kHandoffProposed) == 1);
  CHECK(hp.back().queue == "legal");
  CHECK(started.session->case_status(started.case_id).handoff_queue ==
        std::optional<std::string>("legal"));
  REQUIRE(started.session->decline_handoff(started.case_id).is_ok());
  auto hd = poll_until(*a, [](auto& u) { return count_kind(u, R::kHandoffDeclined) >= 1; });
  REQUIRE(count_kind(hd, R::kHandoffDeclined) == 1);

  // Propose again; the survivor resumes on a fresh client and accepts with history.
  REQUIRE(a->propose_handoff(started.case_id, "legal").is_ok());
  poll_until(*started.session, [](auto& u) { return count_kind(u, S::kHandoffProposed) >= 1; });
  auto again = relay.resume(retype(started.codename));
  CHECK(again->case_status(started.case_id).handoff_queue == std::optional<std::string>("legal"));
  auto moved = again->accept_handoff(started.case_id, protocol::HandoffShare::kHistory);
  INFO(moved.status().to_string());
  REQUIRE(moved.is_ok());
  CHECK(*moved == 1);
  const auto* c = again->vault().find(started.case_id);
  REQUIRE(c != nullptr);
  CHECK_FALSE(c->claimed_by.has_value());
  CHECK(c->queue == "legal");
  CHECK(c->sessions.size() == 1);
  auto closed = poll_until(*a, [](auto& u) { return count_kind(u, R::kClosed) >= 1; });
  REQUIRE(count_kind(closed, R::kClosed) == 1);
  CHECK(closed.back().reason == protocol::CloseReason::kHandedOff);
  CHECK(ana_store->state().cases.empty());
  CHECK(again->send(started.case_id, "too early").code() == Code::kUnavailable);

  // A vault login after the accept still sees the same state.
  auto third = relay.resume(retype(started.codename));
  CHECK(third->vault().find(started.case_id)->sessions.size() == 1);
  third.reset();

  poll_until(
      *b, [](auto& u) { return count_kind(u, R::kWaiting) >= 1; }, std::chrono::seconds(3));
  auto bt = b->take_next();
  INFO(bt.status().to_string());
  REQUIRE(bt.is_ok());
  REQUIRE(bt->has_value());
  CHECK((*bt)->queue == "legal");
  auto bn = poll_until(*b, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  REQUIRE(count_kind(bn, R::kNewCase) == 1);
  const client::ResponderUpdate* first = nullptr;
  for (auto& u : bn)
    if (u.kind == R::kNewCase) first = &u;
  auto handoff = client::decode_handoff(first->message);
  REQUIRE(handoff.is_ok());
  CHECK(handoff->share == protocol::HandoffShare::kHistory);
  REQUIRE(handoff->history.size() == 3);
  CHECK(handoff->history[1].plaintext.payload == "hello from ana");
  auto cl2 = poll_until(*again, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  REQUIRE(count_kind(cl2, S::kClaimed) == 1);
  REQUIRE(b->send(started.case_id, "ben here").is_ok());
  auto bm = poll_until(*again, [](auto& u) { return count_kind(u, S::kMessage) >= 1; });
  REQUIRE(texts(bm, S::kMessage) == std::vector<std::string>{"ben here"});
  REQUIRE(again->send(started.case_id, "thanks ben").is_ok());
  auto bm2 = poll_until(*b, [](auto& u) { return count_kind(u, R::kMessage) >= 1; });
  REQUIRE(texts(bm2, R::kMessage) == std::vector<std::string>{"thanks ben"});

  // Close.
  CHECK(b->close_case(started.case_id, "no-such-outcome").code() == Code::kInvalidArgument);
  REQUIRE(b->close_case(started.case_id, b->info().outcomes.front()).is_ok());
  CHECK(ben_store->state().cases.empty());
  auto sc = poll_until(*again, [](auto& u) { return count_kind(u, S::kClosed) >= 1; });
  REQUIRE(count_kind(sc, S::kClosed) == 1);
  CHECK(sc.back().reason == protocol::CloseReason::kClosed);
  CHECK(again->case_status(started.case_id).closed);
  auto sent = again->send(started.case_id, "after close");
  CHECK(protocol_error(sent) == protocol::ErrorCode::kClosed);
  auto fourth = relay.resume(retype(started.codename));
  CHECK(fourth->case_status(started.case_id).closed);

  // Not a supervisor.
  CHECK(protocol_error(a->queue_health().status()) == protocol::ErrorCode::kForbidden);
  auto nothing = a->take_next();
  REQUIRE(nothing.is_ok());
  CHECK_FALSE(nothing->has_value());
}

TEST_CASE("a store that cannot be saved loses neither the intake copy nor its routing fields",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto a = relay.login(*store);
  auto started = relay.open_case("first words [s1]");
  poll_until(*a, [](auto& u) { return count_kind(u, R::kWaiting) >= 1; });
  auto taken = a->take_next();
  REQUIRE(taken.is_ok());
  REQUIRE(taken->has_value());

  // The store file cannot be replaced (a directory in its way; root ignores
  // permissions, so they would not do): the intake copy cannot be saved.
  namespace fs = std::filesystem;
  const fs::path file = relay.stores.path() / ana.id / client::ResponderStore::kStoreFileName;
  fs::rename(file, fs::path(file.string() + ".aside"));
  fs::create_directory(file);
  Status failed;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       failed.is_ok() && std::chrono::steady_clock::now() < deadline;)
    failed = a->poll(std::chrono::milliseconds(100)).status();
  INFO(failed.to_string());
  REQUIRE_FALSE(failed.is_ok());
  CHECK(store->state().cases.empty());  // back to what is on disk

  // Room again: the server sends the unacknowledged copy again after a
  // reconnect, and the case comes with its routing fields.
  fs::remove(file);
  fs::rename(fs::path(file.string() + ".aside"), file);
  REQUIRE(a->reconnect().is_ok());
  auto nc = poll_until(*a, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  REQUIRE(texts(nc, R::kNewCase) == std::vector<std::string>{"first words [s1]"});
  REQUIRE(store->state().cases.size() == 1);
  const client::ResponderCase& c = store->state().cases[0];
  CHECK(c.queue == "shelter");
  REQUIRE(c.routing.has_value());
  CHECK(c.routing->envelope == (*taken)->envelope);
  CHECK(c.routing->priority_class == (*taken)->priority_class);
  // And it is on disk: a reopened store has them too.
  const std::optional<client::CaseRouting> routing = c.routing;
  a.reset();
  store.reset();
  auto reopened = client::ResponderStore::open(relay.stores.path() / ana.id, kStorePassphrase);
  REQUIRE(reopened.is_ok());
  REQUIRE((*reopened)->state().cases.size() == 1);
  CHECK((*reopened)->state().cases[0].routing == routing);
}

TEST_CASE("handoff with a summary, then new messages only, then deletion reaches the responder",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  auto& ben = relay.org.add_responder("ben", {"legal"});
  auto& sue = relay.org.add_responder("sue", {"shelter", "legal", "supervisor"});
  relay.start();
  auto ana_store = relay.create_store(ana);
  auto ben_store = relay.create_store(ben);
  auto sue_store = relay.create_store(sue);
  auto a = relay.login(*ana_store);
  auto b = relay.login(*ben_store);
  auto s = relay.login(*sue_store);
  auto health = s->queue_health();
  INFO(health.status().to_string());
  REQUIRE(health.is_ok());
  CHECK_FALSE(health->queues.empty());

  auto started = relay.open_case("need a bed");
  take_case(*a, started.case_id);
  poll_until(*started.session, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  REQUIRE(a->propose_handoff(started.case_id, "legal").is_ok());
  poll_until(*started.session, [](auto& u) { return count_kind(u, S::kHandoffProposed) >= 1; });
  CHECK(started.session->accept_handoff(started.case_id, protocol::HandoffShare::kSummary, "")
            .status()
            .code() == Code::kInvalidArgument);
  auto moved = started.session->accept_handoff(started.case_id, protocol::HandoffShare::kSummary,
                                               "they took my passport");
  INFO(moved.status().to_string());
  REQUIRE(moved.is_ok());
  CHECK(*moved == 2);  // ben and sue
  auto bt = b->take_next();
  REQUIRE(bt.is_ok());
  REQUIRE(bt->has_value());
  auto bn = poll_until(*b, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  for (auto& u : bn)
    if (u.kind == R::kNewCase)
      CHECK(client::decode_handoff(u.message)->summary == "they took my passport");
  poll_until(*started.session, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  // Back to shelter, new-only: sue is in shelter too; ben is skipped.
  REQUIRE(b->propose_handoff(started.case_id, "shelter").is_ok());
  poll_until(*started.session, [](auto& u) { return count_kind(u, S::kHandoffProposed) >= 1; });
  auto back = started.session->accept_handoff(started.case_id, protocol::HandoffShare::kNewOnly);
  INFO(back.status().to_string());
  REQUIRE(back.is_ok());
  auto closed = poll_until(*b, [](auto& u) { return count_kind(u, R::kClosed) >= 1; });
  CHECK(closed.back().reason == protocol::CloseReason::kHandedOff);
  auto st = s->take_next();
  REQUIRE(st.is_ok());
  REQUIRE(st->has_value());
  auto sn = poll_until(*s, [](auto& u) { return count_kind(u, R::kNewCase) >= 1; });
  for (auto& u : sn)
    if (u.kind == R::kNewCase)
      CHECK(client::decode_handoff(u.message)->share == protocol::HandoffShare::kNewOnly);
  poll_until(*started.session, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; });
  REQUIRE(started.session->delete_case(started.case_id).is_ok());
  auto del = poll_until(*s, [](auto& u) { return count_kind(u, R::kClosed) >= 1; });
  REQUIRE(count_kind(del, R::kClosed) == 1);
  CHECK(del.back().reason == protocol::CloseReason::kDeleted);
}

}  // namespace
}  // namespace hearth::test
