#include <algorithm>
#include <set>

#include "crypto/encoding.h"
#include "crypto/pow.h"
#include "crypto/prekeys.h"
#include "crypto/random.h"
#include "crypto/vault.h"
#include "server/client_state.h"
#include "server/handlers/handler_util.h"

namespace hearth::server {

namespace asio = boost::asio;
using handlers::case_id_of;
using handlers::make_verdict;
using handlers::no_such_case;
using handlers::ok;
using handlers::perr;
using handlers::room_full;
using handlers::Verdict;
using protocol::ErrorCode;
using protocol::ProtocolError;
using storage::CaseId;
using storage::MailboxId;
using storage::Stores;

// challenge: anyone; replaces the previous one.
asio::awaitable<ClientState::Handled> ClientState::on_challenge(const protocol::ChallengeRequest&) {
  challenge_ = crypto::random_bytes(protocol::kChallengeBytes);
  co_return ok(protocol::ChallengeReply{*challenge_});
}

// vault_login: anonymous.
asio::awaitable<ClientState::Handled> ClientState::on_vault_login(
    const protocol::VaultLoginRequest& req) {
  if (auto e = require_anonymous()) co_return *e;
  if (!challenge_) co_return perr(ErrorCode::kNotAuthenticated, "ask for a challenge first");
  // Single use: a failed attempt spends it too, so each guess costs a round trip.
  Bytes challenge = std::move(*challenge_);
  challenge_.reset();
  // Past the server-wide budget for failures, no storage read and no
  // signature check: the client tries again shortly.
  FailedLoginBudget& budget = services_.vault_login_failures;
  FollowUps next;
  if (auto refused = login_allowed(budget, next)) co_return Handled{*refused, std::move(next)};
  Handled handled = co_await vault_login_attempt(req, challenge);
  if (auto* e = std::get_if<ProtocolError>(&handled.outcome))
    login_failed(budget, *e, handled.next);
  co_return handled;
}

asio::awaitable<ClientState::Handled> ClientState::vault_login_attempt(
    const protocol::VaultLoginRequest& req, const Bytes& challenge) {
  auto get = [login_id = req.login_id](Stores& s) { return s.vaults.get(login_id); };
  auto vault = co_await read_job(get);
  // No such vault and a bad signature answer alike: the reply must not say
  // whether a login id exists.
  const ProtocolError failed = perr(ErrorCode::kAuthFailed, "vault login failed");
  if (!vault.is_ok()) co_return wire_error(StorageStep::kVaultLoginRead, vault.status());
  auto key = crypto::SigningPublicKey::from(vault->login_public_key);
  auto sig = crypto::Signature::from(req.signature);
  if (!key.is_ok() || !sig.is_ok() ||
      !crypto::verify_login_challenge(*key, challenge, *sig).is_ok())
    co_return failed;

  role_ = Role::kSurvivor;
  login_id_ = req.login_id;
  login_key_ = vault->login_public_key;
  protocol::VaultLoginReply reply;
  reply.version = vault->version;
  reply.blob = std::move(vault->blob);
  for (const auto& c : services_.hub.cases_of_vault(login_key_)) {
    protocol::CaseSummary summary;
    summary.case_id.assign(c.id.bytes.begin(), c.id.bytes.end());
    summary.queue = c.record.queue;
    if (c.record.claimed_by) summary.claimed_by = c.record.claimed_by->certificate_hash;
    summary.handoff_queue = c.record.handoff_queue;
    summary.closed = c.record.closed;
    reply.cases.push_back(std::move(summary));
  }
  // Register first, then fetch: anything committed before registering is in
  // the backlog; anything after is pushed live (the cursor merges the two).
  co_return Handled{ok(std::move(reply)),
                    {follow::Register{/*watch_cases=*/true}, follow::RefreshWaitingRoom{}}};
}

// vault_get: survivor.
asio::awaitable<ClientState::Handled> ClientState::on_vault_get(const protocol::VaultGetRequest&) {
  if (auto e = require_survivor()) co_return *e;
  auto get = [login_id = login_id_](Stores& s) { return s.vaults.get(login_id); };
  auto vault = co_await read_job(get);
  if (!vault.is_ok()) co_return wire_error(StorageStep::kVaultRead, vault.status());
  co_return ok(protocol::VaultGetReply{vault->version, std::move(vault->blob)});
}

// vault_put: survivor.
asio::awaitable<ClientState::Handled> ClientState::on_vault_put(
    const protocol::VaultPutRequest& req) {
  if (auto e = require_survivor()) co_return *e;
  Verdict verdict = make_verdict();
  std::size_t bytes = req.put.blob.size();
  auto put_job = [login_id = login_id_, put = req.put, verdict](Stores& s) -> Result<std::int64_t> {
    auto v = s.vaults.put(login_id, put.version, put.blob);
    // Set in the job: kLimitExceeded from the store is the blob's size, from
    // the storage thread a full queue.
    if (!v.is_ok()) *verdict = expected_error(StorageStep::kVaultWrite, v.status().code());
    return v;
  };
  auto version = co_await write_job(put_job, bytes);
  if (!version.is_ok())
    co_return verdict->has_value() ? **verdict : storage_failure(version.status());
  co_return ok(protocol::VaultPutReply{*version});
}

}  // namespace hearth::server
