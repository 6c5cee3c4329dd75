// Round trips through the protocol codec: every request, reply and event
// encodes to a frame that decodes to the same struct, the wire names are the
// documented ones, and the enum name tables invert.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "protocol/codec.h"
#include "tests/protocol/samples.h"

namespace hearth::protocol {
namespace {

using test::sample_bytes;

// The codec writes every field a struct holds and nothing else, so two structs
// of one type are equal exactly when their encodings are: the tests compare
// encodings, and check a few decoded fields directly as well.
RequestFrame decode_ok(const std::string& text) {
  auto decoded = decode_request(text);
  if (const auto* error = std::get_if<RequestError>(&decoded)) {
    FAIL_CHECK(error_code_name(error->error.code) << ": " << error->error.message);
  }
  REQUIRE(std::holds_alternative<RequestFrame>(decoded));
  return std::get<RequestFrame>(decoded);
}

ServerFrame decode_server_ok(const std::string& text, std::optional<Op> op = std::nullopt) {
  auto decoded = decode_server_frame(text, [op](std::uint32_t) { return op; });
  if (const auto* error = std::get_if<ProtocolError>(&decoded)) {
    FAIL_CHECK(error_code_name(error->code) << ": " << error->message);
  }
  REQUIRE(std::holds_alternative<ServerFrame>(decoded));
  return std::get<ServerFrame>(decoded);
}

TEST_CASE("every request survives a round trip", "[protocol]") {
  const auto requests = test::sample_requests();
  REQUIRE(requests.size() == std::variant_size_v<Request>);
  std::uint32_t id = 4'294'967'295u;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    INFO("op " << op_name(static_cast<Op>(i)));
    REQUIRE(requests[i].index() == i);
    const std::string text = encode(RequestFrame{id, requests[i]});
    const RequestFrame frame = decode_ok(text);
    CHECK(frame.id == id);
    CHECK(op_of(frame.request) == static_cast<Op>(i));
    CHECK(encode(frame) == text);
    id = static_cast<std::uint32_t>(i);  // 0 is a valid id too
  }
  for (const Request& request : test::sample_requests_without_options()) {
    const std::string text = encode(RequestFrame{1, request});
    CHECK(encode(decode_ok(text)) == text);
  }
}

TEST_CASE("decoded request fields hold the values sent", "[protocol]") {
  const auto requests = test::sample_requests();
  const auto& sent = std::get<RouteRequest>(requests[1]);
  const auto got = std::get<RouteRequest>(decode_ok(encode(RequestFrame{3, sent})).request);
  CHECK(got.envelope.needs == sent.envelope.needs);
  CHECK(got.envelope.urgency == Urgency::kThisWeek);
  CHECK(got.envelope.languages == std::vector<std::string>{"en", "fr", "ar"});
  CHECK(got.envelope.mode == Mode::kAsync);
  CHECK(got.envelope.region == std::optional<std::string>("north-2"));
  CHECK(got.pow.challenge == sent.pow.challenge);
  CHECK(got.pow.nonce == sent.pow.nonce);

  const auto& open = std::get<OpenCaseRequest>(requests[2]);
  const auto got_open = std::get<OpenCaseRequest>(decode_ok(encode(RequestFrame{4, open})).request);
  CHECK(got_open.case_id == open.case_id);
  REQUIRE(got_open.vault.has_value());
  CHECK(got_open.vault->login_key == open.vault->login_key);
  CHECK(got_open.vault->signature == open.vault->signature);
  CHECK(got_open.vault->blob == open.vault->blob);
  REQUIRE(got_open.intake.size() == 2);
  CHECK(got_open.intake[1].certificate_hash == open.intake[1].certificate_hash);
  CHECK(got_open.intake[1].body == open.intake[1].body);

  const auto& ack = std::get<AckRequest>(requests[8]);
  const auto got_ack = std::get<AckRequest>(decode_ok(encode(RequestFrame{5, ack})).request);
  CHECK(got_ack.seq == 9'007'199'254'740'993);  // past 2^53: no double on the way

  const auto no_vault = std::get<SendRequest>(test::sample_requests_without_options()[2]);
  CHECK_FALSE(std::get<SendRequest>(decode_ok(encode(RequestFrame{6, no_vault})).request)
                  .vault.has_value());
}

TEST_CASE("every reply survives a round trip", "[protocol]") {
  const auto replies = test::sample_replies();
  REQUIRE(replies.size() == std::variant_size_v<Reply>);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const Op op = static_cast<Op>(i);
    INFO("op " << op_name(op));
    REQUIRE(replies[i].index() == i);
    const std::string text = encode(ReplyFrame{static_cast<std::uint32_t>(100 + i), replies[i]});
    const ServerFrame frame = decode_server_ok(text, op);
    REQUIRE(std::holds_alternative<ReplyFrame>(frame));
    const auto& reply = std::get<ReplyFrame>(frame);
    CHECK(reply.re == std::optional<std::uint32_t>(100 + i));
    REQUIRE(std::holds_alternative<Reply>(reply.result));
    CHECK(op_of(std::get<Reply>(reply.result)) == op);
    CHECK(encode(reply) == text);
  }
  for (const Reply& reply : test::sample_replies_without_options()) {
    const std::string text = encode(ReplyFrame{1, reply});
    CHECK(encode(std::get<ReplyFrame>(decode_server_ok(text, op_of(reply)))) == text);
  }
}

TEST_CASE("the lookup decides which reply a frame is", "[protocol]") {
  // {"v":1,"re":5} is a valid reply to every op without result fields, and to
  // take_next when nothing was taken.
  const std::string text = encode(ReplyFrame{5, Reply{AckReply{}}});
  CHECK(text == R"({"v":1,"re":5})");
  for (Op op : {Op::kAck, Op::kDeleteCase, Op::kPresence, Op::kTakeNext, Op::kHandoff,
                Op::kHandoffAccept, Op::kHandoffDecline, Op::kCloseCase}) {
    const auto frame = std::get<ReplyFrame>(decode_server_ok(text, op));
    CHECK(op_of(std::get<Reply>(frame.result)) == op);
  }
  const auto nothing = std::get<ReplyFrame>(decode_server_ok(text, Op::kTakeNext));
  CHECK_FALSE(std::get<TakeNextReply>(std::get<Reply>(nothing.result)).taken.has_value());
}

TEST_CASE("decoded reply fields hold the values sent", "[protocol]") {
  const auto replies = test::sample_replies();
  const auto decode_reply = [](const Reply& reply) {
    const auto frame =
        std::get<ReplyFrame>(decode_server_ok(encode(ReplyFrame{1, reply}), op_of(reply)));
    return std::get<Reply>(frame.result);
  };
  const auto& sent = std::get<TakeNextReply>(replies[static_cast<std::size_t>(Op::kTakeNext)]);
  const auto got = std::get<TakeNextReply>(decode_reply(sent));
  REQUIRE(got.taken.has_value());
  CHECK(got.taken->case_id == sent.taken->case_id);
  CHECK(got.taken->queue == "legal");
  CHECK(got.taken->priority_class == "danger-now");
  CHECK(got.taken->envelope.needs == sent.taken->envelope.needs);
  CHECK(got.taken->envelope.region == std::optional<std::string>("north-2"));
  CHECK(got.taken->interpreter);
  CHECK(got.taken->waited_s == 86'400);

  const auto login =
      std::get<VaultLoginReply>(decode_reply(replies[static_cast<std::size_t>(Op::kVaultLogin)]));
  REQUIRE(login.cases.size() == 3);
  CHECK(login.cases[0].handoff_queue == std::optional<std::string>("legal"));
  CHECK_FALSE(login.cases[0].closed);
  CHECK_FALSE(login.cases[1].handoff_queue.has_value());
  CHECK(login.cases[2].closed);

  const auto responder = std::get<ResponderLoginReply>(
      decode_reply(replies[static_cast<std::size_t>(Op::kResponderLogin)]));
  CHECK(responder.outcomes == std::vector<std::string>{"referred", "safety-plan", "no-contact"});

  const auto health =
      std::get<QueueHealthReply>(decode_reply(replies[static_cast<std::size_t>(Op::kQueueHealth)]));
  REQUIRE(health.queues.size() == 2);
  CHECK(health.queues[1].queue == "legal");
  REQUIRE(health.queues[1].classes.size() == 2);
  CHECK(health.queues[1].classes[1].priority_class == "this-week");
  CHECK(health.queues[1].classes[1].waiting == 5);
  CHECK(health.queues[1].classes[1].longest_wait_s == 7200);
  CHECK(health.queues[1].classes[1].target_s == 86'400);
  CHECK(health.queues[1].responders_available == 4);
  CHECK(health.queues[1].responders_away == 0);
  CHECK(health.queues[1].load == 9);
  CHECK(health.queues[1].capacity == 12);

  const auto accept = std::get<HandoffAcceptRequest>(
      decode_ok(encode(RequestFrame{
                    2, test::sample_requests()[static_cast<std::size_t>(Op::kHandoffAccept)]}))
          .request);
  CHECK(accept.share == HandoffShare::kSummary);
  CHECK(accept.intake.size() == 2);
}

TEST_CASE("every event survives a round trip", "[protocol]") {
  const auto events = test::sample_events();
  REQUIRE(events.size() == std::variant_size_v<Event>);
  for (std::size_t i = 0; i < events.size(); ++i) {
    REQUIRE(events[i].index() == i);
    const std::string text = encode(EventFrame{events[i]});
    const ServerFrame frame = decode_server_ok(text);
    REQUIRE(std::holds_alternative<EventFrame>(frame));
    CHECK(std::get<EventFrame>(frame).event.index() == i);
    CHECK(encode(std::get<EventFrame>(frame)) == text);
  }
  for (const Event& event : test::sample_events_other_values()) {
    const std::string text = encode(EventFrame{event});
    CHECK(encode(std::get<EventFrame>(decode_server_ok(text))) == text);
  }
  const auto envelope = std::get<EnvelopeEvent>(
      std::get<EventFrame>(decode_server_ok(encode(EventFrame{events[0]}))).event);
  CHECK(envelope.kind == EnvelopeKind::kIntake);
  CHECK(envelope.seq == 3);
  CHECK(envelope.sent_minute == 1'800'000'000);
  CHECK(envelope.body == std::get<EnvelopeEvent>(events[0]).body);
}

TEST_CASE("every error code survives an error reply", "[protocol]") {
  for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c) {
    const auto code = static_cast<ErrorCode>(c);
    for (const std::optional<std::uint32_t> re :
         {std::optional<std::uint32_t>(77), std::optional<std::uint32_t>()}) {
      const std::string text = encode(ReplyFrame{re, ProtocolError{code, "why: \"quoted\" é"}});
      // An error reply needs no pending request: the lookup is never asked.
      const auto frame = std::get<ReplyFrame>(decode_server_ok(text));
      CHECK(frame.re == re);
      const auto& error = std::get<ProtocolError>(frame.result);
      CHECK(error.code == code);
      CHECK(error.message == "why: \"quoted\" é");
      CHECK(encode(frame) == text);
    }
  }
}

TEST_CASE("frames use the documented wire names", "[protocol]") {
  const Bytes case_id = sample_bytes(kCaseIdBytes, 0);
  CHECK(encode(RequestFrame{3, AckRequest{case_id, 2}}) ==
        R"({"v":1,"op":"ack","id":3,"case":"AB8-XXybutn4FzZVdJOy0Q","seq":2})");
  // vault_put is flattened: "version" and "blob" at the top level.
  CHECK(encode(RequestFrame{4, VaultPutRequest{{6, Bytes{1, 2, 3}}}}) ==
        R"({"v":1,"op":"vault_put","id":4,"version":6,"blob":"AQID"})");
  CHECK(encode(RequestFrame{5, PowChallengeRequest{Urgency::kDangerNow}}) ==
        R"({"v":1,"op":"pow_challenge","id":5,"urgency":"danger-now"})");
  CHECK(encode(RequestFrame{6, PresenceRequest{Presence::kAvailable, 3}}) ==
        R"({"v":1,"op":"presence","id":6,"status":"available","capacity":3})");
  CHECK(encode(ReplyFrame{std::nullopt, ProtocolError{ErrorCode::kMalformed, "not JSON"}}) ==
        R"({"v":1,"re":null,"error":{"code":"malformed","message":"not JSON"}})");
  CHECK(encode(ReplyFrame{7, Reply{SendReply{1, std::nullopt}}}) == R"({"v":1,"re":7,"seq":1})");
  CHECK(encode(EventFrame{CaseClosedEvent{case_id, CloseReason::kHandedOff}}) ==
        R"({"v":1,"ev":"case_closed","case":"AB8-XXybutn4FzZVdJOy0Q","reason":"handed-off"})");
  CHECK(encode(RequestFrame{8, TakeNextRequest{}}) == R"({"v":1,"op":"take_next","id":8})");
  CHECK(encode(ReplyFrame{8, Reply{TakeNextReply{}}}) == R"({"v":1,"re":8})");
  CHECK(encode(ReplyFrame{8, Reply{TakeNextReply{TakenCase{
                                 case_id,
                                 "legal",
                                 "today",
                                 {{Need::kLegal}, Urgency::kToday, {"es"}, Mode::kAsync, {}},
                                 false,
                                 61}}}}) ==
        R"({"v":1,"re":8,"taken":{"case":"AB8-XXybutn4FzZVdJOy0Q","queue":"legal","class":"today",)"
        R"("envelope":{"needs":["legal"],"urgency":"today","languages":["es"],"mode":"async"},)"
        R"("interpreter":false,"waited_s":61}})");
  CHECK(encode(RequestFrame{9, HandoffRequest{case_id, "immigration"}}) ==
        R"({"v":1,"op":"handoff","id":9,"case":"AB8-XXybutn4FzZVdJOy0Q","queue":"immigration"})");
  CHECK(
      encode(RequestFrame{
          10, HandoffAcceptRequest{case_id, HandoffShare::kHistory, {{Bytes(32, 0), Bytes{1}}}}}) ==
      R"({"v":1,"op":"handoff_accept","id":10,"case":"AB8-XXybutn4FzZVdJOy0Q","share":"history",)"
      R"("intake":[{"certificate_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","body":"AQ"}]})");
  CHECK(
      encode(RequestFrame{11, CloseCaseRequest{case_id, "referred"}}) ==
      R"({"v":1,"op":"close_case","id":11,"case":"AB8-XXybutn4FzZVdJOy0Q","outcome":"referred"})");
  CHECK(encode(ReplyFrame{
            12, Reply{QueueHealthReply{{{"legal", {{"today", 3, 400, 900}}, 2, 1, 5, 6}}}}}) ==
        R"({"v":1,"re":12,"queues":[{"queue":"legal","classes":[{"class":"today","waiting":3,)"
        R"("longest_wait_s":400,"target_s":900}],"responders_available":2,"responders_away":1,)"
        R"("load":5,"capacity":6}]})");
  CHECK(encode(EventFrame{QueueStatusEvent{case_id, 1, WaitBand::kNobodyOnline}}) ==
        R"({"v":1,"ev":"queue_status","case":"AB8-XXybutn4FzZVdJOy0Q","position":1,)"
        R"("wait_band":"nobody-online"})");
  CHECK(encode(EventFrame{WaitingEvent{4, 1}}) ==
        R"({"v":1,"ev":"waiting","waiting":4,"urgent":1})");
  CHECK(encode(EventFrame{HandoffProposedEvent{case_id, "legal"}}) ==
        R"({"v":1,"ev":"handoff_proposed","case":"AB8-XXybutn4FzZVdJOy0Q","queue":"legal"})");
  CHECK(encode(EventFrame{HandoffDeclinedEvent{case_id}}) ==
        R"({"v":1,"ev":"handoff_declined","case":"AB8-XXybutn4FzZVdJOy0Q"})");
  CHECK(encode(ReplyFrame{13, ProtocolError{ErrorCode::kClosed, "case closed"}}) ==
        R"({"v":1,"re":13,"error":{"code":"closed","message":"case closed"}})");
}

TEST_CASE("error messages are cut to the limit on a character boundary", "[protocol]") {
  const auto message_of = [](std::string message) {
    const std::string text = encode(ReplyFrame{1, ProtocolError{ErrorCode::kInternal, message}});
    return std::get<ProtocolError>(std::get<ReplyFrame>(decode_server_ok(text)).result).message;
  };
  CHECK(message_of(std::string(300, 'a')) == std::string(kMaxErrorMessageBytes, 'a'));
  std::string accents;
  for (int i = 0; i < 200; ++i) accents += "é";  // 2 bytes each
  CHECK(message_of(accents).size() == kMaxErrorMessageBytes);
  CHECK(message_of("a" + accents).size() == kMaxErrorMessageBytes - 1);  // no half character
  // Bytes that are not UTF-8 end the message rather than break the frame.
  CHECK(message_of("ok\xff then") == "ok");
  CHECK(message_of("ok\xc3") == "ok");                              // truncated sequence
  CHECK(message_of("ok\xc0\xaf") == "ok");                          // overlong
  CHECK(message_of("ok\xed\xa0\x80") == "ok");                      // surrogate
  CHECK(message_of("ok\xf0\x9f\x94\x92") == "ok\xf0\x9f\x94\x92");  // 4-byte character kept
}

TEST_CASE("a struct the codec would reject still encodes without throwing", "[protocol]") {
  // Only a caller's bug puts these in a struct; encode must not throw or crash,
  // and the other side refuses the result.
  HandoffOfferReply bad_queue{std::string("le\xffgal"), Bytes{1}, {{Bytes{2}, Bytes{3}, {}}}};
  const std::string text = encode(ReplyFrame{1, Reply{bad_queue}});
  const auto decoded = decode_server_frame(text, [](std::uint32_t) { return Op::kHandoffOffer; });
  REQUIRE(std::holds_alternative<ProtocolError>(decoded));
  CHECK(std::get<ProtocolError>(decoded).code == ErrorCode::kBadField);

  const std::string short_case = encode(RequestFrame{1, HandoffDeclineRequest{Bytes(3, 0)}});
  const auto refused = decode_request(short_case);
  REQUIRE(std::holds_alternative<RequestError>(refused));
  CHECK(std::get<RequestError>(refused).error.code == ErrorCode::kBadField);
}

TEST_CASE("canonical_route_text lists the envelope's values in order", "[protocol]") {
  CHECK(canonical_route_text(test::sample_envelope()) ==
        "needs=shelter,legal;urgency=this-week;languages=en,fr,ar;mode=async;region=north-2");
  RouteEnvelope plain{{Need::kCulturallySpecific}, Urgency::kDangerNow, {"uk"}, Mode::kLive, {}};
  CHECK(canonical_route_text(plain) ==
        "needs=culturally-specific;urgency=danger-now;languages=uk;mode=live;region=");
}

template <class E>
void check_names(int count, std::string_view (*name)(E),
                 std::optional<E> (*parse)(std::string_view)) {
  std::set<std::string_view> seen;
  for (int i = 0; i < count; ++i) {
    const auto value = static_cast<E>(i);
    CHECK_FALSE(name(value).empty());
    CHECK(seen.insert(name(value)).second);
    CHECK(parse(name(value)) == value);
    CHECK_FALSE(parse(std::string(name(value)) + " ").has_value());
  }
  CHECK(name(static_cast<E>(count)).empty());
  CHECK_FALSE(parse("").has_value());
}

TEST_CASE("enum names invert and are distinct", "[protocol]") {
  check_names<ErrorCode>(24, error_code_name, parse_error_code);
  check_names<Need>(9, need_name, parse_need);
  check_names<Urgency>(4, urgency_name, parse_urgency);
  check_names<Mode>(2, mode_name, parse_mode);
  check_names<Presence>(2, presence_name, parse_presence);
  check_names<Op>(21, op_name, parse_op);
  check_names<HandoffShare>(3, handoff_share_name, parse_handoff_share);
  check_names<CloseReason>(3, close_reason_name, parse_close_reason);
  check_names<WaitBand>(5, wait_band_name, parse_wait_band);
  CHECK(error_code_name(ErrorCode::kClosed) == "closed");
  CHECK(op_name(Op::kTakeNext) == "take_next");
  CHECK(op_name(Op::kQueueHealth) == "queue_health");
  CHECK(op_name(Op::kDismissWaiting) == "dismiss_waiting");
  CHECK(handoff_share_name(HandoffShare::kNewOnly) == "new-only");
  CHECK(close_reason_name(CloseReason::kHandedOff) == "handed-off");
  CHECK(wait_band_name(WaitBand::kQuarterHour) == "quarter-hour");
  CHECK(wait_band_name(WaitBand::kNobodyOnline) == "nobody-online");
  CHECK_FALSE(parse_op("claim").has_value());
  CHECK(error_code_name(ErrorCode::kCertificateExpired) == "certificate_expired");
  CHECK(need_name(Need::kWorkEducation) == "work-education");
  CHECK(urgency_name(Urgency::kDangerNow) == "danger-now");
  CHECK(op_name(Op::kUploadPrekeys) == "upload_prekeys");
  CHECK_FALSE(parse_need("Shelter").has_value());
}

}  // namespace
}  // namespace hearth::protocol
