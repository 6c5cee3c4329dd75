// Case lifecycle through a real hearthd with the client library: deleting a
// case, two devices on one vault, writing before anyone took the case.
#include "tests/integration/relay_support.h"

namespace hearth::test {
namespace {

using client::protocol_error;
using R = client::ResponderUpdate::Kind;
using S = client::SurvivorUpdate::Kind;

TEST_CASE("a survivor cannot write before a responder takes the case", "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("first");
  Status early = started.session->send(started.case_id, "second");
  CHECK(early.code() == Code::kUnavailable);
  CHECK(started.session->send(Bytes(16, 0), "x").code() == Code::kNotFound);
  // A case nobody has taken cannot be written to by a responder either: they
  // do not even know of it.
  CHECK(responder->send(started.case_id, "hello").code() == Code::kNotFound);
}

TEST_CASE("deleting the last case closes it for the responder and deletes the vault",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("I may have to delete this");
  auto offered = take_case(*responder, started.case_id);
  REQUIRE(count_kind(offered, client::ResponderUpdate::Kind::kNewCase) == 1);
  REQUIRE(responder->send(started.case_id, "never read").is_ok());

  REQUIRE(started.session->delete_case(started.case_id).is_ok());
  CHECK(started.session->vault_gone());
  auto closed = poll_until(*responder, [](auto& u) { return count_kind(u, R::kClosed) >= 1; });
  CHECK(count_kind(closed, R::kClosed) == 1);
  CHECK(store->state().find(started.case_id) == nullptr);

  auto gone = client::SurvivorSession::resume(relay.endpoint(), relay.org.root.public_key(),
                                              retype(started.codename));
  REQUIRE_FALSE(gone.is_ok());
  CHECK(protocol_error(gone.status()) == protocol::ErrorCode::kAuthFailed);
}

TEST_CASE("two devices on one vault: a stale one refreshes and its send still goes through",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("from the phone");
  auto offered = take_case(*responder, started.case_id);
  REQUIRE(count_kind(offered, client::ResponderUpdate::Kind::kNewCase) == 1);
  auto& phone = *started.session;
  REQUIRE(count_kind(poll_until(phone, [](auto& u) { return count_kind(u, S::kClaimed) >= 1; }),
                     S::kClaimed) == 1);

  auto laptop = relay.resume(retype(started.codename));
  const std::int64_t version = laptop->vault_version();
  REQUIRE(phone.send(started.case_id, "phone 1").is_ok());
  // The laptop's vault is now stale: its send loses the compare-and-swap, reloads, retries.
  REQUIRE(laptop->send(started.case_id, "laptop 1").is_ok());
  CHECK(laptop->vault_version() == version + 2);
  auto got = poll_until(*responder, [](auto& u) { return count_kind(u, R::kMessage) >= 2; });
  CHECK(texts(got, R::kMessage) == std::vector<std::string>{"phone 1", "laptop 1"});

  REQUIRE(responder->send(started.case_id, "to both").is_ok());
  auto on_phone = poll_until(phone, [](auto& u) { return count_kind(u, S::kMessage) >= 1; });
  CHECK(texts(on_phone, S::kMessage) == std::vector<std::string>{"to both"});
  (void)poll_until(
      *laptop, [](auto&) { return false; }, std::chrono::milliseconds(500));

  auto fresh = relay.resume(retype(started.codename));
  std::vector<std::string> transcript;
  for (const auto& e : fresh->vault().cases.at(0).transcript)
    transcript.push_back(e.plaintext.payload);
  CHECK(transcript == std::vector<std::string>{"from the phone", "phone 1", "laptop 1", "to both"});
}

}  // namespace
}  // namespace hearth::test

namespace hearth::test {
namespace {

TEST_CASE("long messages: the vault is trimmed so every send fits the server's frame limit",
          "[integration][relay]") {
  Relay relay;
  auto& ana = relay.org.add_responder("ana", {"shelter"});
  relay.start();
  auto store = relay.create_store(ana);
  auto responder = relay.login(*store);
  auto started = relay.open_case("I will write a lot");
  auto offered = take_case(*responder, started.case_id);
  REQUIRE(count_kind(offered, client::ResponderUpdate::Kind::kNewCase) == 1);
  auto claimed = poll_until(*started.session, [](auto& u) {
    return count_kind(u, client::SurvivorUpdate::Kind::kClaimed) >= 1;
  });
  REQUIRE(count_kind(claimed, client::SurvivorUpdate::Kind::kClaimed) == 1);

  std::vector<std::string> sent;
  for (int i = 0; i < 5; ++i) {
    std::string text(60 * 1024, static_cast<char>('a' + i));
    Status s = started.session->send(started.case_id, text);
    INFO(i << ": " << s.to_string());
    REQUIRE(s.is_ok());
    sent.push_back(std::move(text));
  }
  REQUIRE(responder->send(started.case_id, std::string(60 * 1024, 'z')).is_ok());
  auto got = poll_until(*responder, [](auto& u) {
    return count_kind(u, client::ResponderUpdate::Kind::kMessage) >= 5;
  });
  CHECK(texts(got, client::ResponderUpdate::Kind::kMessage) == sent);
  auto reply = poll_until(*started.session, [](auto& u) {
    return count_kind(u, client::SurvivorUpdate::Kind::kMessage) >= 1;
  });
  REQUIRE(count_kind(reply, client::SurvivorUpdate::Kind::kMessage) == 1);

  // The vault kept the newest messages and dropped the oldest.
  auto back = relay.resume(retype(started.codename));
  const auto& transcript = back->vault().cases.at(0).transcript;
  REQUIRE_FALSE(transcript.empty());
  CHECK(transcript.back().plaintext.payload == std::string(60 * 1024, 'z'));
  CHECK(transcript.size() < 7);
}

}  // namespace
}  // namespace hearth::test
