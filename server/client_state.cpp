#include "server/client_state.h"

#include <algorithm>

#include "protocol/codec.h"
#include "protocol/log_names.h"
#include "server/handlers/handler_util.h"

namespace hearth::server {

namespace asio = boost::asio;
using handlers::perr;
using protocol::ErrorCode;
using protocol::ProtocolError;

ClientState::ClientState(Services& services, MailboxFeed& feed)
    : services_(services), feed_(feed) {}

bool ClientState::vault_has_live_case() const {
  for (const auto& c : services_.hub.cases_of_vault(login_key_))
    if (!c.record.closed) return true;
  return false;
}

bool ClientState::roster_admits(const RosterState& roster) const {
  if (role_ != Role::kResponder || !certificate_) return true;
  const auto& v = roster.verified;
  return !v.is_revoked(certificate_hash_) && !v.queues_of(certificate_hash_).empty() &&
         v.check_certificate(*certificate_, services_.clock.now()).is_ok();
}

void ClientState::release() {
  drop_routes([](const PendingRoute&) { return true; });
  if (pow_challenge_) services_.pow.release(*std::exchange(pow_challenge_, std::nullopt));
}

bool ClientState::may_overlap(protocol::Op op) {
  // Each is checked against memory and then makes exactly one storage write
  // job, submitted before the handler first suspends, and changes nothing
  // the next request's checks read: jobs complete in submission order, so
  // their effects are in request order (docs/protocol.md "Pipelining").
  return op == protocol::Op::kSend || op == protocol::Op::kAck || op == protocol::Op::kVaultPut;
}

std::variant<ClientState::Answer, protocol::RequestFrame> ClientState::decode(
    const std::string& text) {
  auto decoded = protocol::decode_request(text);
  if (auto* bad = std::get_if<protocol::RequestError>(&decoded)) {
    services_.metrics.count_error(bad->error.code);
    return Answer{protocol::encode(protocol::ReplyFrame{bad->id, bad->error}), {}};
  }
  return std::move(std::get<protocol::RequestFrame>(decoded));
}

asio::awaitable<ClientState::Answer> ClientState::handle_text(const std::string& text) {
  auto decoded = decode(text);
  if (auto* bad = std::get_if<Answer>(&decoded)) co_return std::move(*bad);
  co_return co_await answer(std::get<protocol::RequestFrame>(decoded));
}

asio::awaitable<ClientState::Answer> ClientState::answer(const protocol::RequestFrame& frame) {
  protocol::Op op = protocol::op_of(frame.request);
  services_.metrics.count_request(op);
  Handled handled = perr(ErrorCode::kInternal, "internal error");
  try {
    handled = co_await dispatch(frame.request);
  } catch (const std::exception&) {
    // A bug or an allocation failure: the connection stays usable, and what
    // the handler meant to follow its reply is dropped with it.
    log::logger().error("handler_exception", {{"op", protocol::op_log_name(op)}});
    handled = perr(ErrorCode::kInternal, "internal error");
  }
  if (auto* e = std::get_if<ProtocolError>(&handled.outcome))
    services_.metrics.count_error(e->code);
  co_return Answer{protocol::encode(protocol::ReplyFrame{frame.id, std::move(handled.outcome)}),
                   std::move(handled.next)};
}

asio::awaitable<ClientState::Handled> ClientState::dispatch(const protocol::Request& request) {
  switch (protocol::op_of(request)) {
    case protocol::Op::kPowChallenge:
      co_return co_await on_pow_challenge(std::get<protocol::PowChallengeRequest>(request));
    case protocol::Op::kRoute:
      co_return co_await on_route(std::get<protocol::RouteRequest>(request));
    case protocol::Op::kOpenCase:
      co_return co_await on_open_case(std::get<protocol::OpenCaseRequest>(request));
    case protocol::Op::kChallenge:
      co_return co_await on_challenge(std::get<protocol::ChallengeRequest>(request));
    case protocol::Op::kVaultLogin:
      co_return co_await on_vault_login(std::get<protocol::VaultLoginRequest>(request));
    case protocol::Op::kVaultGet:
      co_return co_await on_vault_get(std::get<protocol::VaultGetRequest>(request));
    case protocol::Op::kVaultPut:
      co_return co_await on_vault_put(std::get<protocol::VaultPutRequest>(request));
    case protocol::Op::kSend:
      co_return co_await on_send(std::get<protocol::SendRequest>(request));
    case protocol::Op::kAck:
      co_return co_await on_ack(std::get<protocol::AckRequest>(request));
    case protocol::Op::kDeleteCase:
      co_return co_await on_delete_case(std::get<protocol::DeleteCaseRequest>(request));
    case protocol::Op::kResponderLogin:
      co_return co_await on_responder_login(std::get<protocol::ResponderLoginRequest>(request));
    case protocol::Op::kUploadPrekeys:
      co_return co_await on_upload_prekeys(std::get<protocol::UploadPrekeysRequest>(request));
    case protocol::Op::kPresence:
      co_return co_await on_presence(std::get<protocol::PresenceRequest>(request));
    case protocol::Op::kTakeNext:
      co_return co_await on_take_next(std::get<protocol::TakeNextRequest>(request));
    case protocol::Op::kHandoff:
      co_return co_await on_handoff(std::get<protocol::HandoffRequest>(request));
    case protocol::Op::kHandoffOffer:
      co_return co_await on_handoff_offer(std::get<protocol::HandoffOfferRequest>(request));
    case protocol::Op::kHandoffAccept:
      co_return co_await on_handoff_accept(std::get<protocol::HandoffAcceptRequest>(request));
    case protocol::Op::kHandoffDecline:
      co_return co_await on_handoff_decline(std::get<protocol::HandoffDeclineRequest>(request));
    case protocol::Op::kCloseCase:
      co_return co_await on_close_case(std::get<protocol::CloseCaseRequest>(request));
    case protocol::Op::kQueueHealth:
      co_return co_await on_queue_health(std::get<protocol::QueueHealthRequest>(request));
    case protocol::Op::kDismissWaiting:
      co_return co_await on_dismiss_waiting(std::get<protocol::DismissWaitingRequest>(request));
  }
  co_return perr(ErrorCode::kUnknownOp, "unknown op");
}

std::optional<ProtocolError> ClientState::require_survivor() const {
  if (role_ == Role::kAnonymous)
    return perr(ErrorCode::kNotAuthenticated, "log into a vault first");
  if (role_ != Role::kSurvivor) return perr(ErrorCode::kForbidden, "survivors only");
  return std::nullopt;
}

std::optional<ProtocolError> ClientState::require_responder() const {
  if (role_ == Role::kAnonymous)
    return perr(ErrorCode::kNotAuthenticated, "log in as a responder first");
  if (role_ != Role::kResponder) return perr(ErrorCode::kForbidden, "responders only");
  return std::nullopt;
}

std::optional<ProtocolError> ClientState::require_anonymous() const {
  if (role_ != Role::kAnonymous)
    return perr(ErrorCode::kForbidden, "this connection is already logged in");
  return std::nullopt;
}

std::optional<ProtocolError> ClientState::require_not_responder() const {
  if (role_ == Role::kResponder) return perr(ErrorCode::kForbidden, "not for responders");
  return std::nullopt;
}

void ClientState::expire_routes() {
  UnixSeconds now = services_.clock.now();
  drop_routes([now](const PendingRoute& r) { return r.expires <= now; });
}

void ClientState::drop_routes(const std::function<bool(const PendingRoute&)>& drop) {
  std::vector<PrekeyReservations::Held> released;
  std::erase_if(routes_, [&](const PendingRoute& r) {
    if (!drop(r)) return false;
    released.insert(released.end(), r.reserved.begin(), r.reserved.end());
    return true;
  });
  if (!released.empty()) services_.reservations.release(released);
}

std::optional<ProtocolError> ClientState::login_allowed(FailedLoginBudget& budget,
                                                        FollowUps& next) {
  // A connection's first attempt and its later ones have separate budgets, so
  // a storm on kept connections cannot refuse a fresh connection's first try.
  if (budget.allow(login_failures_ > 0, std::chrono::steady_clock::now().time_since_epoch()))
    return std::nullopt;
  (&budget == &services_.responder_login_failures ? services_.metrics.responder_logins_rate_limited
                                                  : services_.metrics.vault_logins_rate_limited)
      .fetch_add(1);
  // A refusal counts toward the connection's limit like a failure: spinning
  // on one connection ends in its close all the same.
  count_login_failure(next);
  return perr(ErrorCode::kRateLimited, "too many failed logins right now; try again shortly");
}

void ClientState::login_failed(FailedLoginBudget& budget, const ProtocolError& e, FollowUps& next) {
  // A storage failure is the server's, not a guess.
  if (e.code == ErrorCode::kInternal || e.code == ErrorCode::kUnavailable) return;
  budget.spend(login_failures_ > 0, std::chrono::steady_clock::now().time_since_epoch());
  (&budget == &services_.responder_login_failures ? services_.metrics.responder_login_failures
                                                  : services_.metrics.vault_login_failures)
      .fetch_add(1);
  count_login_failure(next);
}

void ClientState::count_login_failure(FollowUps& next) {
  if (++login_failures_ <= services_.config.limits.login_failures_per_connection) return;
  // Past the limit: the reply goes out, then the connection closes, so each
  // further guess costs a new connection.
  services_.metrics.login_failure_closes.fetch_add(1);
  log::logger().info("login_failures_closed", {{"failures", login_failures_}});
  next.push_back(follow::CloseAfterReply{});
}

}  // namespace hearth::server
