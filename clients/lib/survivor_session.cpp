#include "clients/lib/survivor_session.h"

#include <algorithm>

#include "crypto/encoding.h"
#include "crypto/pow.h"
#include "crypto/prekeys.h"
#include "crypto/ratchet.h"
#include "crypto/trust.h"
#include "crypto/x3dh.h"

namespace hearth::client {
namespace {

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

// JSON framing around the base64 fields of a send or vault_put (field names,
// the case id, numbers): generous, so the estimate never undershoots.
constexpr std::size_t kFrameOverheadBytes = 1024;

// Route attempts when the server answers pow_stale (its seed was replaced
// while this client solved): a few, since each costs a fresh proof.
constexpr int kPowAttempts = 3;

bool same(ByteView a, ByteView b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

std::size_t base64_length(std::size_t bytes) { return (bytes * 4 + 2) / 3; }

ConnectionOptions connection_options(const SurvivorOptions& options) {
  ConnectionOptions c = options.connection;
  c.max_request_bytes = options.max_frame_bytes;
  return c;
}

Status with_context(const Status& s, std::string_view context) {
  return Status(s.code(), std::string(context) + ": " + s.message());
}

// The server accepts at most max_frame_bytes per frame, and a vault write
// travels with the message it records (body_bytes of it). The largest vault
// contents that still fit, rounded to the vault's 4 KiB padding.
std::size_t contents_budget(std::size_t max_frame_bytes, std::size_t body_bytes) {
  std::size_t used = kFrameOverheadBytes + base64_length(body_bytes);
  if (used >= max_frame_bytes) return 0;
  std::size_t blob = (max_frame_bytes - used) / 4 * 3;
  std::size_t fixed = crypto::kVaultVersionBytes + crypto::kAeadOverhead;
  if (blob < fixed + crypto::kVaultPadBlock) return 0;
  std::size_t padded = (blob - fixed) / crypto::kVaultPadBlock * crypto::kVaultPadBlock;
  return std::min(padded - 1, crypto::kMaxVaultContents);  // sodium_pad adds at least one byte
}

Result<crypto::PrekeyBundle> decode_bundle(const protocol::Bundle& b) {
  crypto::PrekeyBundle out;
  HEARTH_ASSIGN_OR_RETURN(out.certificate, crypto::ResponderCertificate::decode(b.certificate));
  HEARTH_ASSIGN_OR_RETURN(out.signed_prekey, crypto::SignedPrekey::decode(b.signed_prekey));
  if (b.one_time_prekey) {
    HEARTH_ASSIGN_OR_RETURN(out.one_time_prekey, crypto::OneTimePrekey::decode(*b.one_time_prekey));
  }
  return out;
}

// A handoff was accepted: the old responder's session goes, and the case
// waits, unclaimed, in `queue`.
void finish_handoff(SurvivorCase& c, std::string_view queue) {
  if (c.claimed_by) {
    const Bytes old = *c.claimed_by;
    std::erase_if(c.sessions,
                  [&](const SurvivorSessionState& s) { return same(s.certificate_hash, old); });
    c.claimed_by.reset();
  }
  if (crypto::is_valid_queue_name(queue)) c.queue = std::string(queue);
}

// The largest handoff plaintext that lets `copies` intake copies, each with an
// X3DH header of at most `header_bytes`, travel in one handoff_accept frame of
// `max_frame_bytes`: the largest pad bucket that fits, minus its pad byte.
// 0 when not even the smallest bucket fits.
std::size_t handoff_plaintext_budget(std::size_t max_frame_bytes, std::size_t copies,
                                     std::size_t header_bytes) {
  // Per copy: the JSON around it and its certificate hash in base64.
  constexpr std::size_t kCopyJsonChars = 128;
  // lp() of the header, then the ratchet message's header, nonce and tag, and a margin.
  const std::size_t body_overhead = 4 + header_bytes + crypto::kRatchetHeaderBytes + 24 + 16 + 32;
  if (copies == 0 || max_frame_bytes <= kFrameOverheadBytes) return 0;
  const std::size_t chars = (max_frame_bytes - kFrameOverheadBytes) / copies;
  if (chars <= kCopyJsonChars) return 0;
  const std::size_t body = std::min((chars - kCopyJsonChars) / 4 * 3, protocol::kMaxBodyBytes);
  if (body <= body_overhead) return 0;
  std::size_t best = 0;
  for (std::size_t bucket : crypto::kPadBuckets) {
    if (bucket <= body - body_overhead) best = bucket;
  }
  return best == 0 ? 0 : best - 1;
}

// A session a survivor opens with one offered responder: the X3DH header of
// its intake body and the ratchet that encrypts the first message.
struct NewSession {
  Bytes certificate_hash;
  crypto::X3dhHeader header;
  crypto::Ratchet ratchet;
};

// What the intake step made of a route or handoff_offer reply.
struct Intake {
  crypto::VerifiedRoster roster;
  std::vector<NewSession> sessions;  // at most one per certificate, in the offer's order
  // True when the offer had bundles and every readable one was
  // `handing_over`'s: nobody else was offered.
  bool only_handing_over = false;
};

// The intake step of start() and accept_handoff(), one door for both: the
// offered roster must decode and verify against the pinned org root (and
// `pin`, the last roster this vault accepted): otherwise the server could
// offer keys of its own choosing, and the error says so. Then each bundle
// is checked against that roster for `queue` by x3dh_initiate (certificate
// listed, valid, not revoked; both prekey signatures; SPK expiry) and a
// session opened from `identity` for `case_id`. A bundle that does not decode
// or verify is skipped, never used; so is a certificate offered twice, the
// certificate `handing_over` (the responder handing a case over keeps no way
// into it), and any past `max_sessions`.
Result<Intake> open_sessions(const crypto::SigningPublicKey& org_root, ByteView encoded_roster,
                             const std::optional<crypto::RosterPin>& pin,
                             const std::vector<protocol::Bundle>& bundles, std::string_view queue,
                             const crypto::DhKey& identity, ByteView case_id, UnixSeconds now,
                             const std::optional<Bytes>& handing_over, std::size_t max_sessions) {
  auto signed_roster = crypto::SignedRoster::decode(encoded_roster);
  if (!signed_roster.is_ok())
    return with_context(signed_roster.status(), "the server's roster is malformed");
  auto roster = crypto::verify_roster(org_root, signed_roster.value(), now, pin);
  if (!roster.is_ok())
    return with_context(roster.status(), "the server's roster does not verify against the org key");

  Intake out{std::move(roster).value(), {}, !bundles.empty()};
  for (const protocol::Bundle& wire : bundles) {
    auto bundle = decode_bundle(wire);
    if (!bundle.is_ok()) continue;
    Bytes cert_hash = bundle->certificate.hash();
    if (handing_over && same(cert_hash, *handing_over)) continue;
    out.only_handing_over = false;
    if (std::any_of(out.sessions.begin(), out.sessions.end(),
                    [&](const NewSession& n) { return same(n.certificate_hash, cert_hash); }))
      continue;
    if (out.sessions.size() >= max_sessions) break;
    auto init = crypto::x3dh_initiate(out.roster, bundle.value(), queue, identity, case_id, now);
    if (!init.is_ok()) continue;
    auto ratchet =
        crypto::Ratchet::init_initiator(std::move(init->session.shared_key),
                                        init->session.associated_data, init->responder_ratchet_key);
    if (!ratchet.is_ok()) continue;
    out.sessions.push_back(
        {std::move(cert_hash), std::move(init->header), std::move(ratchet).value()});
  }
  return out;
}

}  // namespace

SurvivorSession::SurvivorSession(Endpoint endpoint, crypto::SigningPublicKey org_root,
                                 crypto::VaultKeys keys, SurvivorOptions options)
    : endpoint_(std::move(endpoint)),
      org_root_(org_root),
      keys_(std::move(keys)),
      options_(std::move(options)) {}

SurvivorSession::~SurvivorSession() = default;

UnixSeconds SurvivorSession::now() const {
  return (options_.clock != nullptr ? options_.clock : &system_clock())->now();
}

int SurvivorSession::event_fd() const {
  return connection_ != nullptr ? connection_->event_fd() : -1;
}

Result<Bytes> SurvivorSession::seal(SurvivorVault& vault, std::int64_t version,
                                    std::size_t body_bytes) const {
  std::size_t budget = contents_budget(options_.max_frame_bytes, body_bytes);
  HEARTH_TRY(vault.shrink_to(budget));
  HEARTH_ASSIGN_OR_RETURN(crypto::SecretBytes contents, vault.encode());
  return crypto::seal_vault(keys_, static_cast<std::uint64_t>(version), contents.view());
}

Result<SurvivorSession::Started> SurvivorSession::start(const Endpoint& endpoint,
                                                        const crypto::SigningPublicKey& org_root,
                                                        const protocol::RouteEnvelope& envelope,
                                                        std::string_view first_text,
                                                        const SurvivorOptions& options) {
  HEARTH_ASSIGN_OR_RETURN(Bytes first_plaintext, encode_text(first_text));
  const Clock& clock = options.clock != nullptr ? *options.clock : system_clock();
  HEARTH_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection,
                          Connection::connect(endpoint, connection_options(options)));

  // Proof-of-work for this exact envelope, then the route. Each challenge is
  // this connection's, for one route, priced when issued; pow_stale or
  // pow_replayed means it expired or was spent meanwhile: ask for a new one
  // and solve again.
  Bytes request_hash = crypto::pow_request_hash(as_bytes(protocol::canonical_route_text(envelope)));
  Result<protocol::RouteReply> routed = error(Code::kExpired, "no route attempt");
  for (int attempt = 0; attempt < kPowAttempts; ++attempt) {
    HEARTH_ASSIGN_OR_RETURN(
        protocol::PowChallengeReply challenge,
        connection->call(protocol::PowChallengeRequest{envelope.urgency}, options.call_timeout));
    if (challenge.effort > options.max_pow_effort)
      return error(Code::kLimitExceeded, "the server asks for more proof-of-work than allowed");
    const crypto::PowChallenge pow{challenge.challenge, challenge.effort};
    HEARTH_ASSIGN_OR_RETURN(crypto::PowSolution solution,
                            crypto::solve_pow(pow, "route", request_hash));
    routed =
        connection->call(protocol::RouteRequest{envelope, {challenge.challenge, solution.nonce}},
                         options.call_timeout);
    if (routed.is_ok()) break;
    const auto code = protocol_error(routed.status());
    if (code != protocol::ErrorCode::kPowStale && code != protocol::ErrorCode::kPowReplayed) break;
  }
  HEARTH_ASSIGN_OR_RETURN(protocol::RouteReply route, std::move(routed));

  const UnixSeconds now = clock.now();
  const crypto::DhKey identity = crypto::DhKey::generate();
  HEARTH_ASSIGN_OR_RETURN(
      Intake offered,
      open_sessions(org_root, route.roster, std::nullopt, route.bundles, route.queue, identity,
                    route.case_id, now, std::nullopt, kMaxSessionsPerCase));
  crypto::Codename codename = crypto::Codename::draw();
  HEARTH_ASSIGN_OR_RETURN(crypto::VaultKeys keys, crypto::derive_vault_keys(codename, org_root));

  SurvivorCase c;
  c.case_id = route.case_id;
  c.identity_private = identity.private_key().clone();
  c.queue = route.queue;
  std::vector<protocol::IntakeCopy> intake;
  std::size_t intake_bytes = 0;
  for (NewSession& n : offered.sessions) {
    HEARTH_ASSIGN_OR_RETURN(Bytes message, n.ratchet.encrypt(first_plaintext));
    Bytes body = encode_intake_body(n.header, message);
    intake_bytes += body.size() + crypto::kHashBytes;
    intake.push_back({n.certificate_hash, std::move(body)});
    c.sessions.push_back({std::move(n.certificate_hash), n.ratchet.serialize()});
  }
  if (intake.empty())
    return error(Code::kAuthFailed, "no responder's keys verified; nothing was sent");
  HEARTH_ASSIGN_OR_RETURN(Plaintext first, decode_plaintext(first_plaintext));
  append_bounded(c.transcript, {Author::kSurvivor, to_minute(now), std::move(first)});

  SurvivorVault vault;
  vault.roster_pin = offered.roster.pin();
  vault.cases.push_back(std::move(c));
  std::unique_ptr<SurvivorSession> session(
      new SurvivorSession(endpoint, org_root, std::move(keys), options));
  HEARTH_ASSIGN_OR_RETURN(Bytes blob, session->seal(vault, 1, intake_bytes));  // a new vault is 1
  const std::size_t responders = intake.size();
  // The new vault's login key is proven by signing a fresh challenge with the
  // case id and the login id: nobody else can open a vault with this key.
  HEARTH_ASSIGN_OR_RETURN(protocol::ChallengeReply proof_challenge,
                          connection->call(protocol::ChallengeRequest{}, options.call_timeout));
  const crypto::Signature proof =
      crypto::sign_open_case(session->keys_, proof_challenge.challenge, route.case_id);
  protocol::NewVault new_vault{crypto::vault_lookup_key(session->keys_),
                               Bytes(session->keys_.auth_public_key().bytes.begin(),
                                     session->keys_.auth_public_key().bytes.end()),
                               Bytes(proof.bytes.begin(), proof.bytes.end()), std::move(blob)};
  HEARTH_ASSIGN_OR_RETURN(
      protocol::OpenCaseReply opened,
      connection->call(
          protocol::OpenCaseRequest{route.case_id, std::move(new_vault), std::move(intake)},
          options.call_timeout));
  session->connection_ = std::move(connection);
  session->vault_ = std::move(vault);
  session->version_ = opened.vault_version;
  return Started{std::move(session), std::move(codename), route.case_id, route.queue, responders};
}

Result<std::unique_ptr<SurvivorSession>> SurvivorSession::resume(
    const Endpoint& endpoint, const crypto::SigningPublicKey& org_root,
    const crypto::Codename& codename, const SurvivorOptions& options) {
  HEARTH_ASSIGN_OR_RETURN(crypto::VaultKeys keys, crypto::derive_vault_keys(codename, org_root));
  std::unique_ptr<SurvivorSession> session(
      new SurvivorSession(endpoint, org_root, std::move(keys), options));
  if (options.login_retry) {
    HEARTH_TRY(with_login_retry(*options.login_retry, [&] { return session->login(); }));
  } else {
    HEARTH_TRY(session->login());
  }
  return session;
}

Status SurvivorSession::login() {
  connection_.reset();
  HEARTH_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection,
                          Connection::connect(endpoint_, connection_options(options_)));
  HEARTH_ASSIGN_OR_RETURN(protocol::ChallengeReply challenge,
                          connection->call(protocol::ChallengeRequest{}, options_.call_timeout));
  crypto::Signature signature = crypto::sign_login_challenge(keys_, challenge.challenge);
  HEARTH_ASSIGN_OR_RETURN(
      protocol::VaultLoginReply reply,
      connection->call(
          protocol::VaultLoginRequest{crypto::vault_lookup_key(keys_),
                                      Bytes(signature.bytes.begin(), signature.bytes.end())},
          options_.call_timeout));
  auto opened = crypto::open_vault(keys_, reply.blob);
  if (!opened.is_ok())
    return error(Code::kCorrupt, "the stored vault does not open with this codename");
  if (static_cast<std::int64_t>(opened->version) != reply.version)
    return error(Code::kCorrupt, "the stored vault's version does not match the server's");
  auto vault = SurvivorVault::decode(opened->contents);
  crypto::wipe(opened->contents);
  if (!vault.is_ok()) return error(Code::kCorrupt, "the vault is not a survivor vault");

  // The server's list is current: a case it no longer has was deleted; a claim
  // it reports may have happened while this survivor was away.
  SurvivorVault& v = vault.value();
  std::erase_if(v.cases, [&](const SurvivorCase& c) {
    return std::none_of(reply.cases.begin(), reply.cases.end(),
                        [&](const protocol::CaseSummary& s) { return same(s.case_id, c.case_id); });
  });
  status_.clear();
  for (const protocol::CaseSummary& s : reply.cases) {
    if (s.claimed_by) {
      apply_claim(v, s.case_id, *s.claimed_by);
    } else if (SurvivorCase* c = v.find(s.case_id); c != nullptr && c->claimed_by) {
      // The vault names a responder the server no longer does: a handoff was
      // accepted and the vault write after it did not happen. Finish it.
      finish_handoff(*c, s.queue);
    }
    if (SurvivorCase* c = v.find(s.case_id); c != nullptr && crypto::is_valid_queue_name(s.queue))
      c->queue = s.queue;
    SurvivorCaseStatus& status = status_[s.case_id];
    if (s.handoff_queue && crypto::is_valid_queue_name(*s.handoff_queue))
      status.handoff_queue = s.handoff_queue;
    status.closed = s.closed;
  }
  vault_ = std::move(v);
  version_ = reply.version;
  vault_gone_ = false;
  connection_ = std::move(connection);
  return Status::ok();
}

Status SurvivorSession::reconnect() { return login(); }

Status SurvivorSession::reload_vault() {
  HEARTH_ASSIGN_OR_RETURN(protocol::VaultGetReply reply,
                          connection_->call(protocol::VaultGetRequest{}, options_.call_timeout));
  auto opened = crypto::open_vault(keys_, reply.blob);
  if (!opened.is_ok()) return error(Code::kCorrupt, "the stored vault does not open");
  if (static_cast<std::int64_t>(opened->version) != reply.version)
    return error(Code::kCorrupt, "the stored vault's version does not match the server's");
  auto vault = SurvivorVault::decode(opened->contents);
  crypto::wipe(opened->contents);
  if (!vault.is_ok()) return error(Code::kCorrupt, "the vault is not a survivor vault");
  // Claims learned from events but not yet written survive the reload, and so
  // does a finished handoff (the old responder gone from memory).
  for (const SurvivorCase& c : vault_.cases) {
    if (c.claimed_by) {
      apply_claim(vault.value(), c.case_id, *c.claimed_by);
    } else if (SurvivorCase* stored = vault->find(c.case_id);
               stored != nullptr && stored->claimed_by &&
               c.session_for(*stored->claimed_by) == nullptr) {
      finish_handoff(*stored, c.queue);
    }
  }
  vault_ = std::move(vault).value();
  version_ = reply.version;
  return Status::ok();
}

bool SurvivorSession::apply_claim(SurvivorVault& vault, ByteView case_id,
                                  ByteView claimed_by) const {
  SurvivorCase* c = vault.find(case_id);
  // Only a responder this case was offered to can have claimed it; anything
  // else is ignored, and the sessions stay.
  if (c == nullptr || c->session_for(claimed_by) == nullptr) return false;
  c->claimed_by = Bytes(claimed_by.begin(), claimed_by.end());
  std::erase_if(c->sessions, [&](const SurvivorSessionState& s) {
    return !same(s.certificate_hash, claimed_by);
  });
  return true;
}

Status SurvivorSession::send(ByteView case_id, std::string_view text) {
  if (connection_ == nullptr || vault_gone_) return error(Code::kUnavailable, "not logged in");
  Status s = send_once(case_id, text);
  if (s.code() == Code::kConflict && protocol_error(s) == protocol::ErrorCode::kConflict) {
    // Another device moved the vault on: take its state and try once more.
    HEARTH_TRY(reload_vault());
    s = send_once(case_id, text);
  }
  return s;
}

Status SurvivorSession::send_once(ByteView case_id, std::string_view text) {
  HEARTH_ASSIGN_OR_RETURN(Bytes plaintext, encode_text(text));
  SurvivorVault next = vault_.clone();
  SurvivorCase* c = next.find(case_id);
  if (c == nullptr) return error(Code::kNotFound, "no such case in this vault");
  if (!c->claimed_by) return error(Code::kUnavailable, "nobody has taken this case yet");
  SurvivorSessionState* session = c->session_for(*c->claimed_by);
  if (session == nullptr) return error(Code::kInternal, "no session with the responder");
  HEARTH_ASSIGN_OR_RETURN(crypto::Ratchet ratchet,
                          crypto::Ratchet::deserialize(session->ratchet.view()));
  HEARTH_ASSIGN_OR_RETURN(Bytes body, ratchet.encrypt(plaintext));
  session->ratchet = ratchet.serialize();
  HEARTH_ASSIGN_OR_RETURN(Plaintext entry, decode_plaintext(plaintext));
  append_bounded(c->transcript, {Author::kSurvivor, to_minute(now()), std::move(entry)});
  HEARTH_ASSIGN_OR_RETURN(Bytes blob, seal(next, version_ + 1, body.size()));
  // Message and vault commit together or not at all (one compare-and-swap).
  HEARTH_ASSIGN_OR_RETURN(
      protocol::SendReply reply,
      connection_->call(
          protocol::SendRequest{Bytes(case_id.begin(), case_id.end()), std::move(body),
                                protocol::VaultPut{version_, std::move(blob)}},
          options_.call_timeout));
  version_ = reply.vault_version.value_or(version_ + 1);
  vault_ = std::move(next);
  return Status::ok();
}

Result<std::vector<SurvivorUpdate>> SurvivorSession::poll(std::chrono::milliseconds timeout) {
  std::vector<SurvivorUpdate> updates;
  if (connection_ == nullptr) return error(Code::kUnavailable, "not connected");
  std::vector<protocol::EnvelopeEvent> envelopes;
  std::chrono::milliseconds wait = timeout;
  for (;;) {
    auto next = connection_->next_event(wait);
    wait = std::chrono::milliseconds(0);
    if (!next.is_ok()) {
      SurvivorUpdate u;
      u.kind = replaced_by_newer_login(next.status()) ? SurvivorUpdate::Kind::kReplaced
                                                      : SurvivorUpdate::Kind::kDisconnected;
      u.text = next.status().message();
      updates.push_back(std::move(u));
      break;
    }
    if (!next->has_value()) break;
    Incoming& incoming = **next;
    if (auto* err = std::get_if<protocol::ProtocolError>(&incoming)) {
      SurvivorUpdate u;
      u.kind = SurvivorUpdate::Kind::kWarning;
      u.text = std::string(protocol::error_code_name(err->code)) + ": " + err->message;
      updates.push_back(std::move(u));
      continue;
    }
    auto& event = std::get<protocol::Event>(incoming);
    if (auto* claimed = std::get_if<protocol::CaseClaimedEvent>(&event)) {
      // Kept in memory; the next vault write records it (and a later login
      // learns it from the server's case list anyway).
      if (apply_claim(vault_, claimed->case_id, claimed->claimed_by)) {
        SurvivorCaseStatus& known = status_of(claimed->case_id);
        known.position = 0;
        known.wait_band.reset();
        SurvivorUpdate u;
        u.kind = SurvivorUpdate::Kind::kClaimed;
        u.case_id = claimed->case_id;
        updates.push_back(std::move(u));
      }
    } else if (auto* envelope = std::get_if<protocol::EnvelopeEvent>(&event)) {
      envelopes.push_back(std::move(*envelope));
    } else if (auto* status = std::get_if<protocol::QueueStatusEvent>(&event)) {
      if (vault_.find(status->case_id) == nullptr) continue;
      SurvivorCaseStatus& known = status_of(status->case_id);
      known.position = status->position;
      known.wait_band = status->wait_band;
      SurvivorUpdate u;
      u.kind = SurvivorUpdate::Kind::kQueueStatus;
      u.case_id = status->case_id;
      u.position = status->position;
      u.wait_band = status->wait_band;
      updates.push_back(std::move(u));
    } else if (auto* proposed = std::get_if<protocol::HandoffProposedEvent>(&event)) {
      // The queue name is shown to the survivor: only a well-formed one.
      if (vault_.find(proposed->case_id) == nullptr ||
          !crypto::is_valid_queue_name(proposed->queue))
        continue;
      status_of(proposed->case_id).handoff_queue = proposed->queue;
      SurvivorUpdate u;
      u.kind = SurvivorUpdate::Kind::kHandoffProposed;
      u.case_id = proposed->case_id;
      u.queue = proposed->queue;
      updates.push_back(std::move(u));
    } else if (auto* closed = std::get_if<protocol::CaseClosedEvent>(&event)) {
      if (vault_.find(closed->case_id) == nullptr) continue;
      if (closed->reason == protocol::CloseReason::kClosed) {
        SurvivorCaseStatus& known = status_of(closed->case_id);
        known.closed = true;
        known.handoff_queue.reset();
      } else if (closed->reason == protocol::CloseReason::kDeleted) {
        // Deleted from another device, which rewrote the vault: forget it here
        // too, so no later write of this session brings its keys back.
        const Bytes id = closed->case_id;
        std::erase_if(vault_.cases, [&](const SurvivorCase& c) { return same(c.case_id, id); });
        status_.erase(id);
        if (vault_.cases.empty()) vault_gone_ = true;
      } else {
        continue;  // "handed-off" goes to the old responder, never to a survivor
      }
      SurvivorUpdate u;
      u.kind = SurvivorUpdate::Kind::kClosed;
      u.case_id = closed->case_id;
      u.reason = closed->reason;
      updates.push_back(std::move(u));
    }
  }
  if (!envelopes.empty()) {
    auto received = receive(envelopes);
    if (!received.is_ok()) return received.status();
    for (SurvivorUpdate& u : received.value()) updates.push_back(std::move(u));
  }
  return updates;
}

Result<std::vector<SurvivorUpdate>> SurvivorSession::receive(
    const std::vector<protocol::EnvelopeEvent>& envelopes) {
  for (int attempt = 0;; ++attempt) {
    SurvivorVault next = vault_.clone();
    std::vector<SurvivorUpdate> out;
    bool changed = false;
    for (const protocol::EnvelopeEvent& ev : envelopes) {
      SurvivorCase* c = next.find(ev.case_id);
      // A case no longer in the vault, or a message already stored: acked below, ignored.
      if (c == nullptr || ev.seq <= c->received_seq) continue;
      c->received_seq = ev.seq;
      changed = true;
      std::optional<Bytes> plaintext;
      bool replay = false;
      for (SurvivorSessionState& s : c->sessions) {
        // Before the claim is known, the session that decrypts names the responder.
        if (c->claimed_by && !same(s.certificate_hash, *c->claimed_by)) continue;
        auto ratchet = crypto::Ratchet::deserialize(s.ratchet.view());
        if (!ratchet.is_ok()) continue;
        auto decrypted = ratchet->decrypt(ev.body);
        if (!decrypted.is_ok()) {
          replay = replay || decrypted.status().code() == Code::kReplay;
          continue;
        }
        s.ratchet = ratchet->serialize();
        plaintext = std::move(decrypted).value();
        if (!c->claimed_by) {
          Bytes hash = s.certificate_hash;
          apply_claim(next, ev.case_id, hash);
          c = next.find(ev.case_id);
        }
        break;
      }
      if (!plaintext) {
        if (!replay) {
          SurvivorUpdate u;
          u.kind = SurvivorUpdate::Kind::kWarning;
          u.case_id = ev.case_id;
          u.text = "a message could not be decrypted and was dropped";
          out.push_back(std::move(u));
        }
        continue;
      }
      auto decoded = decode_plaintext(*plaintext);
      crypto::wipe(*plaintext);
      if (!decoded.is_ok()) {
        SurvivorUpdate u;
        u.kind = SurvivorUpdate::Kind::kWarning;
        u.case_id = ev.case_id;
        u.text = "a message was not readable and was dropped";
        out.push_back(std::move(u));
        continue;
      }
      append_bounded(c->transcript, {Author::kResponder, ev.sent_minute, decoded.value()});
      SurvivorUpdate u;
      u.kind = SurvivorUpdate::Kind::kMessage;
      u.case_id = ev.case_id;
      u.message = std::move(decoded).value();
      u.minute = ev.sent_minute;
      out.push_back(std::move(u));
    }
    if (changed) {
      // The vault holding these messages commits before any of them is acked.
      Status put = put_vault(std::move(next));
      if (!put.is_ok()) {
        if (attempt == 0 && protocol_error(put) == protocol::ErrorCode::kConflict) {
          HEARTH_TRY(reload_vault());
          continue;
        }
        return put;
      }
    }
    std::vector<protocol::Request> acks;
    acks.reserve(envelopes.size());
    for (const protocol::EnvelopeEvent& ev : envelopes)
      acks.emplace_back(protocol::AckRequest{ev.case_id, ev.seq});
    // An ack lost with the connection only means the envelope comes again and
    // is recognized as a duplicate by received_seq.
    (void)connection_->call_all(std::move(acks), options_.call_timeout);
    return out;
  }
}

SurvivorCaseStatus& SurvivorSession::status_of(ByteView case_id) {
  return status_[Bytes(case_id.begin(), case_id.end())];
}

SurvivorCaseStatus SurvivorSession::case_status(ByteView case_id) const {
  auto it = status_.find(Bytes(case_id.begin(), case_id.end()));
  return it == status_.end() ? SurvivorCaseStatus{} : it->second;
}

Status SurvivorSession::update_vault(const std::function<Status(SurvivorVault&)>& change) {
  for (int attempt = 0;; ++attempt) {
    SurvivorVault next = vault_.clone();
    HEARTH_TRY(change(next));
    Status put = put_vault(std::move(next));
    if (put.is_ok() || attempt > 0 || protocol_error(put) != protocol::ErrorCode::kConflict)
      return put;
    // Another device moved the vault on: apply the change to its version.
    HEARTH_TRY(reload_vault());
  }
}

Result<std::size_t> SurvivorSession::accept_handoff(ByteView case_id, protocol::HandoffShare share,
                                                    std::string_view summary_text) {
  if (connection_ == nullptr || vault_gone_) return error(Code::kUnavailable, "not logged in");
  const SurvivorCase* current = vault_.find(case_id);
  if (current == nullptr) return error(Code::kNotFound, "no such case in this vault");
  HandoffPayload payload;
  payload.share = share;
  if (share == protocol::HandoffShare::kSummary) payload.summary = std::string(summary_text);
  if (share == protocol::HandoffShare::kHistory) payload.history = current->transcript;
  // A bad summary is refused before anything is asked of the server.
  HEARTH_TRY(encode_handoff(payload).status());
  HEARTH_ASSIGN_OR_RETURN(crypto::DhKey identity,
                          crypto::DhKey::from_private(current->identity_private.view()));
  const std::optional<Bytes> old_responder = current->claimed_by;
  const Bytes id(case_id.begin(), case_id.end());

  HEARTH_ASSIGN_OR_RETURN(
      protocol::HandoffOfferReply offer,
      connection_->call(protocol::HandoffOfferRequest{id}, options_.call_timeout));
  // As in start(): the new team's keys count only under a roster that chains
  // to the pinned org root, and that is not older than one accepted before.
  // One session is kept free for the current responder's until the accept.
  HEARTH_ASSIGN_OR_RETURN(
      Intake offered,
      open_sessions(org_root_, offer.roster, vault_.roster_pin, offer.bundles, offer.queue,
                    identity, id, now(), old_responder, kMaxSessionsPerCase - 1));
  std::vector<NewSession>& fresh = offered.sessions;
  if (offered.only_handing_over)
    return error(Code::kUnavailable, "nobody else can take the case in that queue now");
  if (fresh.empty())
    return error(Code::kAuthFailed, "no responder's keys verified; nothing was sent");
  std::size_t header_bytes = 0;
  for (const NewSession& n : fresh) header_bytes = std::max(header_bytes, n.header.encode().size());
  const std::size_t budget =
      handoff_plaintext_budget(options_.max_frame_bytes, fresh.size(), header_bytes);
  if (budget == 0) return error(Code::kLimitExceeded, "too many responders for one frame");
  HEARTH_ASSIGN_OR_RETURN(Bytes plaintext, encode_handoff(payload, budget));
  std::vector<protocol::IntakeCopy> intake;
  std::vector<SurvivorSessionState> sessions;
  for (NewSession& n : fresh) {
    auto message = n.ratchet.encrypt(plaintext);
    if (!message.is_ok()) {
      crypto::wipe(plaintext);
      return message.status();
    }
    intake.push_back({n.certificate_hash, encode_intake_body(n.header, message.value())});
    sessions.push_back({n.certificate_hash, n.ratchet.serialize()});
  }
  crypto::wipe(plaintext);

  // 1. The new sessions go into the vault before the server moves the case, so
  // a reply from the new team always decrypts, even after a crash right here.
  // Sessions of an earlier attempt that never reached the server are dropped.
  const crypto::RosterPin pin = offered.roster.pin();
  HEARTH_TRY(update_vault([&](SurvivorVault& v) -> Status {
    SurvivorCase* c = v.find(id);
    if (c == nullptr) return error(Code::kNotFound, "the case is gone from the vault");
    if (c->claimed_by) {
      const Bytes keep = *c->claimed_by;
      std::erase_if(c->sessions,
                    [&](const SurvivorSessionState& s) { return !same(s.certificate_hash, keep); });
    }
    for (const SurvivorSessionState& s : sessions) {
      if (c->session_for(s.certificate_hash) == nullptr)
        c->sessions.push_back({s.certificate_hash, s.ratchet.clone()});
    }
    if (!v.roster_pin || v.roster_pin->epoch <= pin.epoch) v.roster_pin = pin;
    return Status::ok();
  }));

  // 2. The server moves the case (one commit) and cuts the old responder off.
  const std::size_t copies = intake.size();
  HEARTH_ASSIGN_OR_RETURN(
      protocol::HandoffAcceptReply accepted,
      connection_->call(protocol::HandoffAcceptRequest{id, share, std::move(intake)},
                        options_.call_timeout));
  (void)accepted;
  status_of(id).handoff_queue.reset();

  // 3. The old session goes. If this write is lost, the next login finishes
  // it: the server's case list no longer names the old responder.
  Status dropped = update_vault([&](SurvivorVault& v) -> Status {
    if (SurvivorCase* c = v.find(id)) finish_handoff(*c, offer.queue);
    return Status::ok();
  });
  if (!dropped.is_ok()) {
    if (SurvivorCase* c = vault_.find(id)) finish_handoff(*c, offer.queue);
  }
  return copies;
}

Status SurvivorSession::decline_handoff(ByteView case_id) {
  if (connection_ == nullptr || vault_gone_) return error(Code::kUnavailable, "not logged in");
  if (vault_.find(case_id) == nullptr) return error(Code::kNotFound, "no such case in this vault");
  HEARTH_ASSIGN_OR_RETURN(
      protocol::HandoffDeclineReply declined,
      connection_->call(protocol::HandoffDeclineRequest{Bytes(case_id.begin(), case_id.end())},
                        options_.call_timeout));
  (void)declined;
  status_of(case_id).handoff_queue.reset();
  return Status::ok();
}

Status SurvivorSession::delete_case(ByteView case_id) {
  if (connection_ == nullptr || vault_gone_) return error(Code::kUnavailable, "not logged in");
  if (vault_.find(case_id) == nullptr) return error(Code::kNotFound, "no such case in this vault");
  HEARTH_ASSIGN_OR_RETURN(
      protocol::DeleteCaseReply deleted,
      connection_->call(protocol::DeleteCaseRequest{Bytes(case_id.begin(), case_id.end())},
                        options_.call_timeout));
  (void)deleted;
  for (int attempt = 0;; ++attempt) {
    SurvivorVault next = vault_.clone();
    std::erase_if(next.cases, [&](const SurvivorCase& c) { return same(c.case_id, case_id); });
    if (next.cases.empty()) {
      // The server deleted the vault with its last case.
      vault_ = std::move(next);
      vault_gone_ = true;
      return Status::ok();
    }
    // Take the deleted case's keys and transcript out of the stored vault too.
    Status put = put_vault(std::move(next));
    if (put.is_ok() || attempt > 0 || protocol_error(put) != protocol::ErrorCode::kConflict)
      return put;
    HEARTH_TRY(reload_vault());
  }
}

Status SurvivorSession::put_vault(SurvivorVault next) {
  HEARTH_ASSIGN_OR_RETURN(Bytes blob, seal(next, version_ + 1, 0));
  HEARTH_ASSIGN_OR_RETURN(
      protocol::VaultPutReply put,
      connection_->call(protocol::VaultPutRequest{protocol::VaultPut{version_, std::move(blob)}},
                        options_.call_timeout));
  version_ = put.version;
  vault_ = std::move(next);
  return Status::ok();
}

}  // namespace hearth::client
