// One-time prekey reservations and the pending handoff offer per case.
#include <catch2/catch.hpp>

#include "server/prekey_reservations.h"
#include "storage/types.h"

namespace hearth::server {
namespace {

using Held = PrekeyReservations::Held;

TEST_CASE("a reserved prekey is held for its token only, until released or expired", "[server]") {
  PrekeyReservations r;
  const std::uint64_t a = r.new_token();
  const std::uint64_t b = r.new_token();
  CHECK(a != b);
  CHECK(r.try_reserve("ana", 1, a, 100, 200));
  CHECK_FALSE(r.try_reserve("ana", 1, b, 100, 200));  // held by a
  CHECK(r.try_reserve("ana", 1, a, 100, 200));        // a again: still a's
  CHECK(r.try_reserve("ana", 2, b, 100, 200));        // another prekey
  CHECK(r.try_reserve("bo", 1, b, 100, 200));         // another responder
  CHECK(r.reserved(100) == 3);
  // Releasing someone else's reservation does nothing.
  r.release({Held{"ana", 1, b}});
  CHECK_FALSE(r.try_reserve("ana", 1, b, 100, 200));
  r.release({Held{"ana", 1, a}});
  CHECK(r.try_reserve("ana", 1, b, 100, 200));
  // An expired reservation is free; its old holder's late release leaves the new one.
  const std::uint64_t c = r.new_token();
  CHECK(r.try_reserve("ana", 1, c, 200, 300));
  r.release({Held{"ana", 1, b}});
  CHECK_FALSE(r.try_reserve("ana", 1, a, 250, 300));
  CHECK(r.reserved(300) == 0);
}

TEST_CASE("one handoff offer is pending per case and queue", "[server]") {
  PrekeyReservations r;
  auto id = storage::random_id<storage::CaseId>();
  CHECK_FALSE(r.handoff_offer(id, "legal", 100).has_value());
  PrekeyReservations::HandoffOffer first;
  first.token = r.new_token();
  first.queue = "legal";
  first.expires = 200;
  REQUIRE(r.try_reserve("ivan", 7, first.token, 100, 260));
  first.reserved = {Held{"ivan", 7, first.token}};
  CHECK(r.put_handoff_offer(id, first, 100).token == first.token);
  // A second one for the same queue loses to the pending one.
  PrekeyReservations::HandoffOffer second = first;
  second.token = r.new_token();
  CHECK(r.put_handoff_offer(id, second, 110).token == first.token);
  CHECK(r.handoff_offer(id, "legal", 150)->token == first.token);
  CHECK_FALSE(r.handoff_offer(id, "medical", 150).has_value());
  CHECK_FALSE(r.handoff_offer(id, "legal", 200).has_value());  // expired
  // Taken with the wrong token: nothing; with its own: gone.
  CHECK_FALSE(r.take_handoff_offer(id, second.token).has_value());
  auto taken = r.take_handoff_offer(id, first.token);
  REQUIRE(taken.has_value());
  CHECK(taken->reserved.size() == 1);
  CHECK_FALSE(r.handoff_offer(id, "legal", 150).has_value());
  // An offer for another queue replaces the pending one and frees its prekeys.
  CHECK(r.put_handoff_offer(id, first, 100).token == first.token);
  PrekeyReservations::HandoffOffer medical;
  medical.token = r.new_token();
  medical.queue = "medical";
  medical.expires = 200;
  CHECK(r.put_handoff_offer(id, medical, 120).token == medical.token);
  CHECK(r.try_reserve("ivan", 7, medical.token, 120, 260));
}

}  // namespace
}  // namespace hearth::server
