// What hearth-console's two faces share: line mode (plain.cpp) and the
// full-screen console (tui.cpp) take the same actions through the same
// ResponderSession and say the same things about them. This file holds the
// case numbers a responder types, the words for every error and event, the
// routing fields of a taken case, queue health as a table, and reading the
// passphrase. Both faces pass every line through cli::printable before it
// reaches the terminal (text from the server or a peer is untrusted).
//
// Thread safety: CaseNumbers is a plain value; the rest are pure functions
// (read_passphrase reads a file, the environment or the terminal).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clients/cli/terminal.h"
#include "clients/console/console.h"
#include "clients/lib/directory.h"
#include "clients/lib/responder_session.h"
#include "common/bytes.h"
#include "common/status.h"
#include "protocol/messages.h"

namespace hearth::console {

// Cases get small numbers, in the order this console first saw them, so a
// responder types "/close 2 referred" rather than a case id.
class CaseNumbers {
 public:
  // The number of `case_id`, given a new one the first time it is seen.
  int number_of(ByteView case_id);
  // The case numbered `number`, or nullptr. The pointer stays valid while
  // this object lives (numbers are never reused).
  const Bytes* id_of(int number) const;

 private:
  std::map<Bytes, int> numbers_;
  std::map<int, Bytes> ids_;
  int next_ = 1;
};

// A failed call, in words a responder can act on.
std::string explain(const Status& status);

// The exit code for a failed login: 3 when the organisation refused this
// responder (revoked, not on the roster, certificate expired), else 1.
int login_exit_code(const Status& status);

// The exit code when the server closed this console's connection because this
// responder signed in again elsewhere (close 4001): the console stops instead
// of logging in again, which would close that newer session in turn.
inline constexpr int kExitReplaced = 4;
// What the console says then, in every mode.
inline constexpr const char* kReplacedText =
    "You signed in somewhere else; this console stopped. Nothing sent was lost: your cases and "
    "messages are with your newer session (a line not sent yet is printed below). Start this "
    "console again to use it here instead "
    "(that signs the other one out).";

// "under a minute", "12 min", "2 h 5 min".
std::string wait_text(std::int64_t seconds);

// "a, b, c" (or `none` for an empty list).
std::string join(const std::vector<std::string>& items, const std::string& none = "");

// What /close accepts, for messages: "referred, resolved, ..." or a note
// that the server listed none.
std::string outcome_list(const std::vector<std::string>& outcomes);

// The routing fields of a case just taken (what the survivor answered, the
// queue and class the server routed it to, how long it waited), a few lines.
std::vector<std::string> routing_lines(const protocol::TakenCase& taken);
// The routing fields in one short line, for a case list ("shelter urgent 3m").
std::string routing_summary(const protocol::TakenCase& taken);
// The routing fields the store kept for its cases, in take_next's shape: after
// a restart the console shows them, and matches referral cards to them, as
// before. Cases taken before store version 3 have none.
std::map<Bytes, protocol::TakenCase> stored_routing(const client::ResponderState& state);

// The first message of a case as lines: the survivor's text, or for a case
// another team handed over, what the survivor chose to share. Each line is
// already printable.
std::vector<std::string> first_message_lines(const client::Plaintext& first);

// Words for a proposal or a close that the server refused.
std::string handoff_refusal(const Status& status, const std::string& queue);
std::string close_refusal(const Status& status, const std::string& outcome,
                          const std::vector<std::string>& outcomes);

// What happened to case `label` (e.g. "#2") when the server ended it.
std::string closed_text(const std::string& label, protocol::CloseReason reason);

// The "N waiting (K urgent)" line.
std::string waiting_text(std::int64_t waiting, std::int64_t urgent);

// Queue health (supervisors) as a table, one line per class and per queue.
std::vector<std::string> health_lines(const protocol::QueueHealthReply& reply);

// "/dismiss" (supervisors): clears cases nobody took out of the waiting room.
// Arguments, in any order: `away` (only cases whose survivor is not
// connected), `queue QUEUE`, `last MINUTES` (arrived within the last
// MINUTES), and `yes` to confirm. Without `yes` nothing is sent: the console
// says what it would delete and how to confirm. kInvalidArgument with the
// usage on anything else.
struct DismissCommand {
  protocol::DismissWaitingRequest request;
  bool confirmed = false;
  std::string what;  // "waiting cases nobody took, survivor away, in shelter, ..."
};
inline constexpr std::string_view kDismissUsage =
    "Usage: /dismiss [away] [queue QUEUE] [last MINUTES] [yes]";
Result<DismissCommand> parse_dismiss(const std::vector<std::string>& args, UnixSeconds now);
// What to tell the supervisor before (confirm) and after (result).
std::string dismiss_confirm_text(const DismissCommand& command, const std::string& retype);
std::string dismiss_result_text(const protocol::DismissWaitingReply& reply);

// What login established: who, which queues, the roster, the org root
// fingerprint the store pins (compare it with the one the admin gave you).
std::vector<std::string> login_lines(const client::LoginInfo& info,
                                     const crypto::SigningPublicKey& org_root);

// Adds a private note to a case in `store` and saves the store; the note never
// leaves this machine. kNotFound: no such case; add_note()'s errors; a failed
// save takes the note back out and returns the save's error.
Status add_private_note(client::ResponderStore& store, ByteView case_id, std::string text);

// Loads options.directory_file into `out` when one was given. On a bad file
// it prints the error (naming the field) on stderr and returns false.
bool load_directory_option(const Options& options, std::optional<client::Directory>& out);

// The canned responses as numbered lines ("1  welcome  Welcome: Hello, ...").
std::vector<std::string> canned_lines(const client::Directory& directory);
// A canned response by id or by its number in canned_lines; nullptr if none.
const client::CannedResponse* find_canned(const client::Directory& directory,
                                          const std::string& id_or_number);

// The referral cards to offer for a case: those matching its routing fields
// (`envelope`, known only for cases taken this run), or every card when
// `all` or when the routing fields are not known. `why` says which.
std::vector<const client::ReferralCard*> referrals_for(const client::Directory& directory,
                                                       const protocol::RouteEnvelope* envelope,
                                                       bool all, std::string& why);
// `cards` as numbered lines ("1  casa-segura  Referral: ...").
std::vector<std::string> referral_lines(const std::vector<const client::ReferralCard*>& cards);
// A card by id (anywhere in the directory) or by its number in `listed`.
const client::ReferralCard* find_referral(const client::Directory& directory,
                                          const std::vector<const client::ReferralCard*>& listed,
                                          const std::string& id_or_number);

// Unlocks the responder store in options.data_dir with the passphrase
// (read_passphrase from `in`, which keeps any lines typed after it), wiping
// the passphrase after. On failure it prints why
// on stderr, sets `exit_code` (2: no passphrase, 1: the store did not open)
// and returns nullptr.
std::unique_ptr<client::ResponderStore> unlock_store(const Options& options, cli::LineReader& in,
                                                     int& exit_code);

// The passphrase: the first line of `file` if given, else $HEARTH_PASSPHRASE,
// else `prompt` with echo off. nullopt when none could be read.
std::optional<std::string> read_passphrase(const std::string& file, cli::LineReader& in,
                                           std::string_view prompt = "Passphrase: ");

}  // namespace hearth::console
