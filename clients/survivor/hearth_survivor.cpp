// hearth-survivor: reach an organisation's responders anonymously from a terminal.
//
// Asks up to three triage questions, sends the first message end-to-end
// encrypted to every responder who can take it, shows the 7-word codename once
// (with a chance to practise it), then chats: while the case waits it says
// where the survivor is in line, in plain words; when the responder proposes
// another team it asks what to share (or to stay). `--resume` comes back with
// the codename. Nothing is written to disk: the conversation lives in the vault on
// the server, sealed under keys only the codename opens. Ctrl-C or /x is the
// quick exit: the screen and its scrollback are cleared and it leaves at once.
// It prints the org root's fingerprint so a survivor given a card can compare.
#include <poll.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/org_key.h"
#include "clients/cli/parse.h"
#include "clients/cli/terminal.h"
#include "clients/lib/survivor_session.h"
#include "crypto/codename.h"
#include "crypto/keys.h"

namespace {

// Exit codes: 0 done (left, or the conversation was deleted), 1 a failure
// (network, wrong codename three times), 2 a bad command line, 4 stopped
// because the same conversation was opened somewhere else (close 4001; this
// window does not reconnect, which would push the other one out).
constexpr int kExitReplaced = 4;

using namespace hearth;
using namespace hearth::client;
using protocol::Need;
using protocol::Urgency;

struct NeedChoice {
  Need need;
  const char* label;
};
constexpr NeedChoice kNeeds[] = {
    {Need::kImmediateSafety, "immediate safety"},
    {Need::kShelter, "shelter"},
    {Need::kMedical, "medical care"},
    {Need::kCounselling, "counselling"},
    {Need::kLegal, "legal help"},
    {Need::kImmigration, "immigration"},
    {Need::kWorkEducation, "work and education"},
    {Need::kPeerSupport, "peer support"},
    {Need::kCulturallySpecific, "culturally specific services"},
};
constexpr std::pair<Urgency, const char*> kUrgencies[] = {
    {Urgency::kDangerNow, "I am in danger now"},
    {Urgency::kToday, "today"},
    {Urgency::kThisWeek, "this week"},
    {Urgency::kInformation, "I am looking for information"},
};

// Every line goes through cli::printable: text from the server or a peer may
// carry control characters (a hostile server's error message, a message body).
void say(const std::string& text) {
  std::fputs(cli::printable(text).c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// One answer; "/x" anywhere is the quick exit.
std::optional<std::string> ask(cli::LineReader& in, const std::string& prompt) {
  std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);
  auto line = in.read_line();
  if (line && *line == "/x") cli::quick_exit_now();
  return line;
}

std::vector<std::string> split(const std::string& line) {
  std::istringstream words(line);
  std::vector<std::string> out;
  for (std::string w; words >> w;) out.push_back(w);
  return out;
}

// Asks until the answer parses; nullopt at end of input or "/quit".
std::optional<protocol::RouteEnvelope> ask_triage(cli::LineReader& in) {
  protocol::RouteEnvelope envelope;
  say("What do you need help with? Pick one or two numbers, e.g. \"2\" or \"2 5\".");
  for (std::size_t i = 0; i < std::size(kNeeds); ++i)
    say("  " + std::to_string(i + 1) + "  " + kNeeds[i].label);
  for (;;) {
    auto line = ask(in, "> ");
    if (!line || *line == "/quit") return std::nullopt;
    envelope.needs.clear();
    bool ok = true;
    for (const auto& w : split(*line)) {
      int n = std::atoi(w.c_str());
      if (n < 1 || n > static_cast<int>(std::size(kNeeds)))
        ok = false;
      else if (std::find(envelope.needs.begin(), envelope.needs.end(), kNeeds[n - 1].need) ==
               envelope.needs.end())
        envelope.needs.push_back(kNeeds[n - 1].need);
    }
    if (ok && !envelope.needs.empty() && envelope.needs.size() <= 2) break;
    say("Please type one or two numbers from the list.");
  }
  say("How urgent is it?");
  for (std::size_t i = 0; i < std::size(kUrgencies); ++i)
    say("  " + std::to_string(i + 1) + "  " + kUrgencies[i].second);
  for (;;) {
    auto line = ask(in, "> ");
    if (!line || *line == "/quit") return std::nullopt;
    int n = std::atoi(line->c_str());
    if (n >= 1 && n <= static_cast<int>(std::size(kUrgencies))) {
      envelope.urgency = kUrgencies[n - 1].first;
      break;
    }
    say("Please type a number from 1 to 4.");
  }
  say("Which languages can you write in? Two-letter codes, e.g. \"en\" or \"es en\".");
  for (;;) {
    auto line = ask(in, "[en] > ");
    if (!line || *line == "/quit") return std::nullopt;
    envelope.languages = split(*line);
    if (envelope.languages.empty()) envelope.languages = {"en"};
    bool ok = envelope.languages.size() <= 3;
    for (const auto& l : envelope.languages)
      ok = ok && l.size() == 2 && std::islower(static_cast<unsigned char>(l[0])) &&
           std::islower(static_cast<unsigned char>(l[1]));
    if (ok) break;
    say("Please type one to three two-letter codes.");
  }
  return envelope;
}

// What went wrong, in words a survivor can act on.
std::string explain(const Status& status) {
  auto code = protocol_error(status);
  if (code == protocol::ErrorCode::kNoResponder)
    return "Nobody can take this request right now. Please try again later; if you are in "
           "danger now, call your local emergency number.";
  if (code == protocol::ErrorCode::kAuthFailed)
    return "That codename does not open a conversation here. Check the words and try again.";
  if (code == protocol::ErrorCode::kClosed)
    return "This conversation was closed by the responder; nothing more can be sent in it.";
  if (status.code() == Code::kUnavailable)
    return "Cannot reach the service (" + status.message() + "). Try again in a moment.";
  return "Something went wrong: " + status.to_string();
}

// "1st", "2nd", "3rd", "4th", ..., "11th", "12th", "13th", "21st", ...
std::string ordinal(std::int64_t n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return std::to_string(n) + suffix;
}

// Where the survivor is in line, in plain words.
std::string queue_words(std::int64_t position, protocol::WaitBand band) {
  if (band == protocol::WaitBand::kNobodyOnline)
    return "Nobody is online right now. Your message is safe here; you will get an answer when "
           "someone comes on.";
  std::string line =
      position <= 1 ? "You are next in line." : "You are " + ordinal(position) + " in line.";
  switch (band) {
    case protocol::WaitBand::kMinutes:
      return line + " A responder should reach you within a few minutes.";
    case protocol::WaitBand::kQuarterHour:
      return line + " A responder should reach you within about 15 minutes.";
    case protocol::WaitBand::kHour:
      return line + " A responder should reach you within about an hour.";
    case protocol::WaitBand::kHours:
      return line + " It may take a few hours for a responder to reach you.";
    case protocol::WaitBand::kNobodyOnline:
      break;
  }
  return line;
}

// Close 4001: the same codename was opened somewhere else (another device or
// window) and the server let the newer one in. Not alarming, but plain.
constexpr const char* kReplacedWords =
    "Your conversation was opened somewhere else with your codename (another window or "
    "device), so this window has stepped aside. Nothing on the server was lost; lines this window "
    "had not sent yet are printed below, to copy. To carry on here, start "
    "again with --resume. If you did not open it elsewhere, someone else may know your codename: "
    "/delete removes the conversation.";

void show(const SurvivorUpdate& u) {
  switch (u.kind) {
    case SurvivorUpdate::Kind::kMessage:
      say("[" + cli::clock_time(u.minute) + "] responder: " + cli::printable(u.message.payload));
      break;
    case SurvivorUpdate::Kind::kClaimed:
      say("A responder has joined your conversation.");
      break;
    case SurvivorUpdate::Kind::kQueueStatus:
      say(queue_words(u.position, u.wait_band));
      break;
    case SurvivorUpdate::Kind::kHandoffProposed:
      break;  // chat() asks the question
    case SurvivorUpdate::Kind::kClosed:
      if (u.reason == protocol::CloseReason::kDeleted)
        say("This conversation was deleted (from another device).");
      else
        say("This conversation was closed by the responder. Replies already sent still reach "
            "you; nothing more can be sent in it. You can start a new conversation at any time.");
      break;
    case SurvivorUpdate::Kind::kWarning:
      say("(" + u.text + ")");
      break;
    case SurvivorUpdate::Kind::kDisconnected:
      say("(connection lost; reconnecting)");
      break;
    case SurvivorUpdate::Kind::kReplaced:
      say(kReplacedWords);
      break;
  }
}

void show_transcript(const SurvivorSession& session) {
  for (const auto& c : session.vault().cases) {
    for (const auto& e : c.transcript) {
      const char* who = e.author == Author::kSurvivor ? "you" : "responder";
      say("[" + cli::clock_time(e.minute) + "] " + who + ": " +
          cli::printable(e.plaintext.payload));
    }
  }
}

// The responder proposed another team: ask what to share, or to stay. Returns
// true when the case moved (it then waits for someone of the new team).
bool answer_handoff(cli::LineReader& in, SurvivorSession& session, const Bytes& case_id,
                    const std::string& queue) {
  say("Your responder suggests the " + queue + " team. Share:");
  say("  1) only new messages");
  say("  2) a summary you write");
  say("  3) the whole conversation");
  say("  4) No, stay with the current responder");
  for (;;) {
    auto line = ask(in, "> ");
    if (!line || *line == "/quit") return false;  // still pending: asked again next time
    int n = std::atoi(line->c_str());
    if (n == 4) {
      Status s = session.decline_handoff(case_id);
      say(s.is_ok() ? "You stay with your current responder." : explain(s));
      return false;
    }
    if (n < 1 || n > 3) {
      say("Please type a number from 1 to 4.");
      continue;
    }
    std::string summary;
    protocol::HandoffShare share = protocol::HandoffShare::kNewOnly;
    if (n == 2) {
      share = protocol::HandoffShare::kSummary;
      say("Write what the new team should know (one line).");
      auto text = ask(in, "> ");
      while (text && text->empty()) text = ask(in, "> ");
      if (!text || *text == "/quit") return false;
      summary = std::move(*text);
    } else if (n == 3) {
      share = protocol::HandoffShare::kHistory;
    }
    say("Moving your conversation…");
    auto moved = session.accept_handoff(case_id, share, summary);
    cli::wipe(summary);
    if (!moved.is_ok()) {
      const auto wire = protocol_error(moved.status());
      if (wire == protocol::ErrorCode::kNoResponder) {
        say("Nobody from the " + queue +
            " team can take your conversation right now. You stay with your current responder "
            "for now.");
        return false;
      }
      if (!wire && moved.status().code() == Code::kUnavailable) {
        say("Could not move your conversation (" + moved.status().message() +
            "). You stay with your current responder for now.");
        return false;
      }
      if (moved.status().code() == Code::kLimitExceeded)
        say("That summary is too long to send. Please write a shorter one.");
      else
        say(explain(moved.status()));
      if (moved.status().code() == Code::kLimitExceeded ||
          moved.status().code() == Code::kInvalidArgument)
        continue;
      return false;
    }
    say("Your conversation is moving to the " + queue + " team (" + std::to_string(*moved) +
        " responder(s) there). Your previous responder can no longer read it.");
    say("Messages you write now wait here until someone from the new team joins.");
    return true;
  }
}

// The chat loop: lines typed are sent, pushes are shown. Messages typed before
// a responder joins wait here, in memory, and go out when one does.
int chat(cli::LineReader& in, SurvivorSession& session, Bytes case_id) {
  say("Type a message and press Enter. /help lists commands.");
  std::deque<std::string> waiting;
  bool claimed = false;
  if (const auto* c = session.vault().find(case_id)) claimed = c->claimed_by.has_value();
  SurvivorCaseStatus status = session.case_status(case_id);
  bool closed = status.closed;
  if (closed) {
    say("This conversation was closed by the responder; nothing more can be sent in it.");
  } else if (status.handoff_queue) {
    if (answer_handoff(in, session, case_id, *status.handoff_queue)) claimed = false;
  }
  if (!claimed && !closed) say("Waiting for a responder to join…");
  // What the server pushes: shown, and acted on.
  enum class Applied { kShown, kLost, kDeleted, kReplaced };
  auto apply = [&](const std::vector<SurvivorUpdate>& updates) {
    Applied result = Applied::kShown;
    for (const auto& u : updates) {
      show(u);
      if (u.kind == SurvivorUpdate::Kind::kClaimed) claimed = true;
      if (u.kind == SurvivorUpdate::Kind::kDisconnected) result = Applied::kLost;
      if (u.kind == SurvivorUpdate::Kind::kReplaced) return Applied::kReplaced;
      if (u.kind == SurvivorUpdate::Kind::kHandoffProposed && u.case_id == case_id &&
          answer_handoff(in, session, case_id, u.queue))
        claimed = false;
      if (u.kind == SurvivorUpdate::Kind::kClosed && u.case_id == case_id) {
        if (u.reason == protocol::CloseReason::kDeleted) return Applied::kDeleted;
        closed = true;
        waiting.clear();
      }
    }
    return result;
  };
  // Close 4001: lines not sent yet (kept until a responder joins, or typed
  // and not read yet) would go with this window: printed for the survivor
  // to copy into the other one.
  auto stepped_aside = [&] {
    while (auto line = in.buffered_line()) waiting.push_back(*line);
    for (const auto& line : waiting) say("not sent: " + line);
    return kExitReplaced;
  };
  // Catch up before reading what was typed: replies that waited on the
  // server arrive right after connecting, and a survivor coming back should
  // see them before their next line is acted on. Until a quiet 300 ms, at
  // most 3 s.
  const auto catch_up_until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < catch_up_until) {
    auto updates = session.poll(std::chrono::milliseconds(300));
    if (!updates.is_ok() || updates->empty()) break;
    const Applied caught_up = apply(*updates);
    if (caught_up == Applied::kDeleted) return 0;
    if (caught_up == Applied::kReplaced) return stepped_aside();
  }
  auto flush_waiting = [&] {
    while (!waiting.empty()) {
      Status s = session.send(case_id, waiting.front());
      if (!s.is_ok()) return say(explain(s));
      waiting.pop_front();
    }
  };
  for (;;) {
    while (auto line = in.buffered_line()) {
      if (line->empty()) continue;
      if (*line == "/quit" || *line == "/exit") return 0;
      if (*line == "/x") cli::quick_exit_now();
      if (*line == "/help") {
        say("/quit     leave (the conversation stays; come back with your codename)");
        say("/x        quick exit: clear the screen and leave at once (so does Ctrl-C)");
        say("/delete   delete this conversation on the server, for good");
        continue;
      }
      if (*line == "/delete") {
        auto confirm = ask(in, "Delete everything? Type yes to confirm: ");
        if (confirm && *confirm == "yes") {
          Status s = session.delete_case(case_id);
          if (!s.is_ok()) {
            say(explain(s));
            continue;
          }
          say("Deleted. Your codename no longer opens anything.");
          return 0;
        }
        continue;
      }
      if (closed) {
        say("This conversation is closed; nothing more can be sent. /quit to leave.");
        continue;
      }
      if (!claimed) {
        waiting.push_back(*line);
        say("(kept until a responder joins)");
        continue;
      }
      Status s = session.send(case_id, *line);
      if (!s.is_ok()) say(explain(s));
    }
    if (in.at_eof()) return 0;
    pollfd fds[2] = {{in.fd(), POLLIN, 0}, {session.event_fd(), POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) return 1;
    if (fds[0].revents & (POLLIN | POLLHUP)) in.fill();
    auto updates = session.poll(std::chrono::milliseconds(0));
    if (!updates.is_ok()) {
      say(explain(updates.status()));
      continue;
    }
    const Applied applied = apply(*updates);
    if (applied == Applied::kDeleted) return 0;
    // Not reconnecting: that would close the newer window in turn.
    if (applied == Applied::kReplaced) return stepped_aside();
    if (applied == Applied::kLost) {
      for (int attempt = 0; attempt < 30; ++attempt) {
        if (session.reconnect().is_ok()) {
          say("(reconnected)");
          // What happened while away: the server's case list says.
          SurvivorCaseStatus now = session.case_status(case_id);
          if (now.closed && !closed) {
            say("This conversation was closed by the responder; nothing more can be sent in it.");
            closed = true;
            waiting.clear();
          } else if (now.handoff_queue &&
                     answer_handoff(in, session, case_id, *now.handoff_queue)) {
            claimed = false;
          }
          break;
        }
        ::sleep(2);
      }
    }
    if (claimed) flush_waiting();
  }
}

int start_new(cli::LineReader& in, const Endpoint& endpoint,
              const crypto::SigningPublicKey& org_root) {
  auto envelope = ask_triage(in);
  if (!envelope) return 0;
  say("Write your first message (one line; you can write more after).");
  auto first = ask(in, "> ");
  while (first && first->empty()) first = ask(in, "> ");
  if (!first || *first == "/quit") return 0;
  say("Connecting and solving a small puzzle that keeps floods out (a few seconds)…");
  auto started = SurvivorSession::start(endpoint, org_root, *envelope, *first);
  cli::wipe(*first);
  if (!started.is_ok()) {
    say(explain(started.status()));
    return 1;
  }
  say("");
  say("Your message went to " + std::to_string(started->responders) + " responder(s).");
  say("");
  say("Your codename is the only way back to this conversation:");
  say("");
  std::string shown = "    ";
  for (auto w : started->codename.words()) shown.append(w).append(" ");
  say(shown);
  cli::wipe(shown);
  say("");
  say("Learn it or write it where only you can reach it. Anyone who has it can read this");
  say("conversation. It will not be shown again.");
  for (int tries = 0; tries < 3; ++tries) {
    auto typed = cli::read_hidden(in, "Type it back to practise (or just press Enter to skip): ");
    if (!typed || typed->empty()) break;
    auto parsed = crypto::Codename::parse(*typed);
    cli::wipe(*typed);
    if (parsed.is_ok() &&
        crypto::constant_time_equal(parsed->normalized(), started->codename.normalized())) {
      say("Correct.");
      break;
    }
    say("That is not it. Try again.");
  }
  // Clear the codename from the terminal's scrollback where the terminal allows.
  std::fputs("\033[3J\033[H\033[2J", stdout);
  return chat(in, *started->session, started->case_id);
}

int resume(cli::LineReader& in, const Endpoint& endpoint,
           const crypto::SigningPublicKey& org_root) {
  for (int tries = 0; tries < 3; ++tries) {
    auto typed = cli::read_hidden(in, "Your codename (7 words): ");
    if (!typed) return 0;
    auto codename = crypto::Codename::parse(*typed);
    cli::wipe(*typed);
    if (!codename.is_ok()) {
      say(codename.status().message());
      continue;
    }
    say("Opening…");
    // Turned away for load (a storm of bad logins): wait and try again,
    // saying so, rather than asking for the codename again.
    SurvivorOptions options;
    options.login_retry.emplace();
    options.login_retry->on_wait = [](std::chrono::milliseconds wait, const Status&) {
      say(login_retry_text(wait));
      return true;
    };
    auto session = SurvivorSession::resume(endpoint, org_root, *codename, options);
    if (!session.is_ok()) {
      say(explain(session.status()));
      if (session.status().code() == Code::kUnavailable) return 1;
      continue;
    }
    auto& s = **session;
    if (s.vault().cases.empty()) {
      say("This conversation was deleted.");
      return 0;
    }
    show_transcript(s);
    return chat(in, s, s.vault().cases.front().case_id);
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "hearth-survivor: reach an organisation's responders anonymously.\n"
      "Nothing is saved on this computer; your 7-word codename is the only way back."};
  std::string server = "ws://127.0.0.1:8750/v1/ws";
  std::string org_root_text;
  std::string ca_file;
  bool resume_flag = false;
  app.add_option("--server", server, "hearthd's WebSocket URL (ws:// or wss://)")
      ->capture_default_str();
  app.add_option("--org-root", org_root_text,
                 "the organisation's root public key (64 hex digits) or a file holding it")
      ->required();
  app.add_option("--ca", ca_file, "for wss://: a PEM file of CA certificates to trust");
  app.add_flag("--resume", resume_flag, "come back to a conversation with your codename");
  if (auto code = hearth::cli::parse_command_line(app, argc, argv)) return *code;

  auto org_root = cli::load_org_root(org_root_text);
  if (!org_root.is_ok()) {
    std::fprintf(stderr, "hearth-survivor: %s\n", org_root.status().message().c_str());
    return 2;
  }
  Endpoint endpoint{server, ca_file};
  cli::LineReader in;
  cli::install_quick_exit();
  say("Hearth. Type /quit at any time to leave; Ctrl-C or /x clears the screen and leaves at "
      "once. Nothing is saved on this computer.");
  say("Organisation fingerprint: " + crypto::fingerprint(*org_root) +
      " (if you were given a card, it should match).");
  return resume_flag ? resume(in, endpoint, *org_root) : start_new(in, endpoint, *org_root);
}
