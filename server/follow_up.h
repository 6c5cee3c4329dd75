// FollowUp: what should happen once a request's reply is queued. A handler
// returns its reply (or error) and a list of these; the session applies them
// in order right after queuing the reply, on its strand, so a client never
// sees an event its reply has not announced yet (a claimed case's intake
// copy after take_next's reply, a login's backlog after the login reply).
//
// Thread safety: plain values.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "protocol/messages.h"
#include "storage/types.h"

namespace hearth::server {

namespace follow {

// Register this session with the hub under its party (a survivor's vault, or
// a responder, who is also marked online). With `watch_cases`, then watch
// every mailbox of the party's cases with a backlog fetch: register first,
// then fetch, so the cursors merge backlog and live pushes.
struct Register {
  bool watch_cases = false;
};
// Watch one mailbox with a backlog fetch (a case just taken).
struct Watch {
  storage::MailboxId mailbox;
  storage::CaseId case_id;
  bool responder_side = false;
};
// A case of this survivor's vault was opened, closed or deleted (admission's
// survivor pool prefers vaults with a live case).
struct CasesChanged {};
// The waiting room's places and offers are recomputed (RelayHub::refresh).
struct RefreshWaitingRoom {};
// Close the connection (1008) once the reply is out: too many failed logins.
struct CloseAfterReply {};

// What a party is told.
struct CaseClaimed {
  storage::CaseId case_id;
  Bytes claimed_by;  // certificate hash
  std::string responder_id;
};
struct CaseClosed {
  storage::CaseId case_id;
  protocol::CloseReason reason;
};
using Notice = std::variant<CaseClaimed, CaseClosed, protocol::Event>;
// Tell every session of a vault (but this one, with `skip_self`).
struct TellVault {
  Bytes login_key;
  Notice notice;
  bool skip_self = false;
};
// Tell every session of a responder.
struct TellResponder {
  std::string responder_id;
  Notice notice;
};

}  // namespace follow

using FollowUp =
    std::variant<follow::Register, follow::Watch, follow::CasesChanged, follow::RefreshWaitingRoom,
                 follow::CloseAfterReply, follow::TellVault, follow::TellResponder>;
using FollowUps = std::vector<FollowUp>;

}  // namespace hearth::server
