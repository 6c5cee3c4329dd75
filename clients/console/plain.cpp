// hearth-console's line mode (`--plain`): one line in, one line out, usable with a
// screen reader, over a slow link, or from a script. It unlocks the
// responder's encrypted store, logs in with the certificate, checks the roster
// against the pinned org root, keeps prekeys stocked, and then tells the
// responder how many cases wait for them; `/next` takes the best one (the
// server's routing decides), and messages show as they arrive. Cases can be
// handed to another team (`/handoff`, the survivor consents) or closed with an
// outcome (`/close`); supervisors see queue health (`/health`) and can clear
// a flood out of the waiting room (`/dismiss`, confirmed with `yes`). The
// full-screen console (tui.cpp) builds on the same library.
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/terminal.h"
#include "clients/console/console.h"
#include "clients/console/console_core.h"
#include "clients/lib/login_retry.h"
#include "clients/lib/responder_session.h"
#include "clients/lib/responder_store.h"
#include "common/clock.h"

namespace {

using namespace hearth;
using namespace hearth::client;
using namespace hearth::console;

// Every line goes through cli::printable: text from the server or a peer may
// carry control characters (a hostile server's error message, a message body).
void say(const std::string& text) {
  std::fputs(cli::printable(text).c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

struct Console {
  ResponderStore& store;
  Endpoint endpoint;
  std::unique_ptr<ResponderSession> session;
  CaseNumbers numbers;
  int current = 0;                                // the case a plain line is sent to
  std::vector<std::string> outcomes;              // what /close accepts (from the login)
  std::optional<Directory> directory;             // --directory: canned responses, referral cards
  std::map<Bytes, protocol::TakenCase> routing;   // routing fields of my cases, where known
  std::vector<const ReferralCard*> listed_cards;  // what "/refer N K" numbers
  bool replaced = false;  // signed in elsewhere (4001): stop, do not log in again

  std::string label(ByteView case_id) { return "#" + std::to_string(numbers.number_of(case_id)); }

  // The routing fields of a case just taken: what the survivor answered.
  void show_taken(int n, const protocol::TakenCase& t) {
    say("#" + std::to_string(n) + " is yours. Lines you type go to this case.");
    for (const auto& line : routing_lines(t)) say("   " + line);
  }

  // The first message of a case: text, or what the survivor chose to share
  // when another team handed the case over.
  void show_first(const std::string& at, const ResponderUpdate& u) {
    if (u.message.kind != static_cast<std::uint8_t>(PlaintextKind::kHandoffConsent) &&
        !u.text.empty())
      return say(at + label(u.case_id) + " (" + u.text + ")");
    const std::string prefix = at + label(u.case_id) + " ";
    for (const auto& line : first_message_lines(u.message)) say(prefix + line);
  }

  void show(const ResponderUpdate& u) {
    const std::string at = "[" + cli::clock_time(u.minute) + "] ";
    switch (u.kind) {
      case ResponderUpdate::Kind::kNewCase:
        show_first(at, u);
        break;
      case ResponderUpdate::Kind::kMessage:
        say(at + label(u.case_id) + " survivor: " + cli::printable(u.message.payload));
        break;
      case ResponderUpdate::Kind::kWaiting:
        say(waiting_text(u.waiting, u.urgent) + (u.waiting == 0 ? "" : " — /next"));
        break;
      case ResponderUpdate::Kind::kHandoffDeclined:
        say(label(u.case_id) + ": the survivor declined the handoff. The case stays with you.");
        break;
      case ResponderUpdate::Kind::kClosed:
        say(closed_text(label(u.case_id), u.reason));
        if (numbers.number_of(u.case_id) == current) current = 0;
        routing.erase(u.case_id);
        break;
      case ResponderUpdate::Kind::kWarning:
        say("(" + u.text + ")");
        break;
      case ResponderUpdate::Kind::kDisconnected:
        say("(connection lost)");
        session.reset();
        break;
      case ResponderUpdate::Kind::kReplaced:
        say(kReplacedText);
        session.reset();
        replaced = true;
        break;
    }
  }

  // `retry`: a login the server turns away for load (rate_limited,
  // unavailable) is tried again with backoff, saying so, until it gets in
  // (the first login); otherwise the caller's loop tries again later.
  Status connect(bool retry = false) {
    auto once = [&]() -> Status {
      auto s = ResponderSession::login(endpoint, store);
      if (!s.is_ok()) return s.status();
      session = std::move(s).value();
      return Status::ok();
    };
    LoginRetry policy;
    policy.on_wait = [](std::chrono::milliseconds wait, const Status&) {
      say(login_retry_text(wait));
      return true;
    };
    HEARTH_TRY(retry ? with_login_retry(policy, once) : once());
    const LoginInfo& info = session->info();
    outcomes = info.outcomes;
    for (const auto& line : login_lines(info, store.state().org_root)) say(line);
    for (const auto& w : info.warnings) say("WARNING: " + w);
    return Status::ok();
  }

  void list_cases() {
    const auto& cases = session ? session->state().cases : store.state().cases;
    if (cases.empty()) return say("No cases.");
    for (const auto& c : cases) {
      std::string last =
          c.transcript.empty() ? "" : cli::printable(c.transcript.back().plaintext.payload);
      if (last.size() > 50) last = last.substr(0, 47) + "...";
      say(label(c.case_id) + "  " + (c.queue.empty() ? "(queue unknown)" : c.queue) + "  " + last);
    }
  }

  void help() {
    say("/next              take the next waiting case (the server picks the most urgent)");
    say("/cases             list your cases");
    say("/to N              write to case N from now on");
    say("/history N         case N's routing fields, messages and your private notes");
    say("/note N TEXT       a private note on case N: kept encrypted here, never sent");
    say("/handoff N QUEUE   propose moving case N to another team's queue (the survivor decides)");
    say("/close N OUTCOME   close case N with an outcome: " + outcome_list(outcomes));
    say("/canned            list canned responses;  /canned N ID  send one to case N");
    say("/refer N [all]     referral cards for case N;  /refer N K  send card K (or ID)");
    say("/health            queue health (supervisors)");
    say("/dismiss [away] [queue Q] [last MIN] [yes]  delete waiting cases nobody took "
        "(supervisors)");
    say("/available         you can take cases;   /away   you cannot");
    say("/quit              leave (your keys stay locked in your data directory)");
    say("anything else      is sent to the current case");
  }

  const Bytes* case_or_say(int n) {
    const Bytes* id = numbers.id_of(n);
    if (id == nullptr || (session && session->state().find(*id) == nullptr)) {
      say("No case #" + std::to_string(n) + ". /cases lists them.");
      return nullptr;
    }
    return id;
  }

  void take_next() {
    auto taken = session->take_next();
    if (!taken.is_ok()) return say(explain(taken.status()));
    if (!taken->has_value()) return say("Nobody is waiting for you right now.");
    const protocol::TakenCase& t = **taken;
    current = numbers.number_of(t.case_id);
    routing[t.case_id] = t;
    show_taken(current, t);
  }

  // /canned: list; /canned N ID: send canned response ID to case N as it is
  // (line mode has no compose line to edit it in).
  void canned(int n, const std::string& arg) {
    if (!directory || directory->canned.empty())
      return say("No canned responses: start with --directory FILE (the org's directory).");
    if (n == 0) {
      for (const auto& line : canned_lines(*directory)) say(line);
      return say("/canned N ID sends one to case N.");
    }
    const Bytes* id = case_or_say(n);
    if (!id) return;
    const CannedResponse* c = find_canned(*directory, arg);
    if (c == nullptr) return say("No canned response " + arg + ". /canned lists them.");
    Status s = session->send(*id, c->text);
    say(s.is_ok() ? "Sent \"" + c->title + "\" to #" + std::to_string(n) + "." : explain(s));
  }

  // /refer N: the cards for case N; /refer N all: every card; /refer N K|ID: send one.
  void refer(int n, const std::string& arg) {
    if (!directory || directory->referrals.empty())
      return say("No referral cards: start with --directory FILE (the org's directory).");
    const Bytes* id = case_or_say(n);
    if (!id) return;
    auto routed = routing.find(*id);
    const protocol::RouteEnvelope* envelope =
        routed == routing.end() ? nullptr : &routed->second.envelope;
    std::string why;
    if (arg.empty() || arg == "all") {
      listed_cards = referrals_for(*directory, envelope, arg == "all", why);
      say("Referral cards for #" + std::to_string(n) + ", " + why + ":");
      for (const auto& line : referral_lines(listed_cards)) say(line);
      return say("/refer " + std::to_string(n) + " K (or ID) sends card K to the survivor.");
    }
    if (listed_cards.empty()) listed_cards = referrals_for(*directory, envelope, false, why);
    const ReferralCard* card = find_referral(*directory, listed_cards, arg);
    if (card == nullptr) return say("No referral card " + arg + ". /refer N lists them.");
    Status s = session->send(*id, render_referral(*card));
    say(s.is_ok() ? "Sent the card " + card->id + " to #" + std::to_string(n) + "." : explain(s));
  }

  void health() {
    auto reply = session->queue_health();
    if (!reply.is_ok()) {
      if (protocol_error(reply.status()) == protocol::ErrorCode::kForbidden)
        return say("Queue health is for supervisors.");
      return say(explain(reply.status()));
    }
    for (const auto& line : health_lines(*reply)) say(line);
  }

  // /dismiss ARGS: says what it would delete; /dismiss ARGS yes does it.
  void dismiss(const std::string& line) {
    std::istringstream in(line);
    std::string verb;
    in >> verb;
    std::vector<std::string> args;
    for (std::string w; in >> w;) args.push_back(w);
    auto parsed = parse_dismiss(args, SystemClock().now());
    if (!parsed.is_ok()) return say(parsed.status().message());
    if (!parsed->confirmed) return say(dismiss_confirm_text(*parsed, line));
    auto reply = session->dismiss_waiting(parsed->request);
    if (!reply.is_ok()) {
      if (protocol_error(reply.status()) == protocol::ErrorCode::kForbidden)
        return say("Dismissing waiting cases is for supervisors.");
      return say(explain(reply.status()));
    }
    say(dismiss_result_text(*reply));
  }

  void command(const std::string& line) {
    std::istringstream words(line);
    std::string verb;
    words >> verb;
    int n = 0;
    words >> n;
    std::string arg;
    words >> arg;
    if (verb == "/help") {
      help();
    } else if (verb == "/cases") {
      list_cases();
    } else if (!session) {
      say("Not connected; retrying.");
    } else if (verb == "/next") {
      take_next();
    } else if (verb == "/to") {
      if (!case_or_say(n)) return;
      current = n;
      say("Writing to #" + std::to_string(n) + ".");
    } else if (verb == "/history") {
      const Bytes* id = case_or_say(n);
      const ResponderCase* c = id ? session->state().find(*id) : nullptr;
      if (!c) return;
      if (auto routed = routing.find(*id); routed != routing.end()) {
        for (const auto& field : routing_lines(routed->second)) say("   " + field);
      }
      for (const auto& e : c->transcript) {
        if (e.plaintext.kind == static_cast<std::uint8_t>(PlaintextKind::kHandoffConsent)) {
          for (const auto& l : first_message_lines(e.plaintext))
            say("[" + cli::clock_time(e.minute) + "] " + l);
          continue;
        }
        say("[" + cli::clock_time(e.minute) + "] " +
            (e.author == Author::kSurvivor ? "survivor: " : "you: ") +
            cli::printable(e.plaintext.payload));
      }
      for (const auto& note : c->notes)
        say("[" + cli::clock_time(note.minute) + "] your note: " + cli::printable(note.text));
    } else if (verb == "/note") {
      const Bytes* id = case_or_say(n);
      if (!id) return;
      // The note is the rest of the line after the case number.
      std::string text;
      std::getline(words, text);
      text = arg + text;
      if (text.empty()) return say("Usage: /note N TEXT (a private note, kept only here)");
      Status s = add_private_note(store, *id, std::move(text));
      say(s.is_ok() ? "Note kept on #" + std::to_string(n) + " (only on this machine, encrypted)."
                    : "Could not keep the note: " + s.message());
    } else if (verb == "/handoff") {
      const Bytes* id = case_or_say(n);
      if (!id) return;
      if (arg.empty()) return say("Usage: /handoff N QUEUE, e.g. /handoff 2 legal");
      Status s = session->propose_handoff(*id, arg);
      if (!s.is_ok()) return say(handoff_refusal(s, arg));
      say("Proposed moving #" + std::to_string(n) + " to " + arg +
          ". The survivor decides; you keep the case until they accept.");
    } else if (verb == "/close") {
      const Bytes* id = case_or_say(n);
      if (!id) return;
      if (arg.empty()) return say("Usage: /close N OUTCOME. Outcomes: " + outcome_list(outcomes));
      Status s = session->close_case(*id, arg);
      if (!s.is_ok()) return say(close_refusal(s, arg, outcomes));
      if (current == n) current = 0;
      routing.erase(*id);
      say("#" + std::to_string(n) + " closed (" + arg +
          "). Its messages are gone from this console.");
    } else if (verb == "/canned") {
      canned(n, arg);
    } else if (verb == "/refer") {
      refer(n, arg);
    } else if (verb == "/health") {
      health();
    } else if (verb == "/dismiss") {
      dismiss(line);
    } else if (verb == "/available" || verb == "/away") {
      Status s = session->set_presence(
          verb == "/away" ? protocol::Presence::kAway : protocol::Presence::kAvailable, 3);
      say(s.is_ok() ? "Presence: " + verb.substr(1) + "." : explain(s));
    } else {
      say("Unknown command. /help lists them.");
    }
  }

  void send(const std::string& text) {
    const Bytes* id = numbers.id_of(current);
    if (!id) return say("Pick a case first: /next or /to N.");
    if (!session) return say("Not connected; your line was not sent.");
    Status s = session->send(*id, text);
    if (!s.is_ok()) say(explain(s));
  }
};

}  // namespace

namespace hearth::console {

int run_plain(const Options& options) {
  cli::LineReader in;
  std::optional<Directory> directory;
  if (!load_directory_option(options, directory)) return 1;
  int exit_code = 0;
  auto store = unlock_store(options, in, exit_code);
  if (!store) return exit_code;
  Console console{*store,
                  Endpoint{options.server, options.ca_file},
                  nullptr,
                  {},
                  0,
                  {},
                  std::move(directory),
                  stored_routing(store->state()),
                  {}};
  if (Status s = console.connect(/*retry=*/true); !s.is_ok()) {
    std::fprintf(stderr, "hearth-console: %s\n", explain(s).c_str());
    return login_exit_code(s);
  }
  say("Type /help for commands.");
  int backoff = 0;
  for (;;) {
    while (auto line = in.buffered_line()) {
      if (line->empty()) continue;
      if (*line == "/quit" || *line == "/exit") return 0;
      if ((*line)[0] == '/')
        console.command(*line);
      else
        console.send(*line);
    }
    if (in.at_eof()) return 0;
    pollfd fds[2] = {{in.fd(), POLLIN, 0},
                     {console.session ? console.session->event_fd() : -1, POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) return 1;
    if (fds[0].revents & (POLLIN | POLLHUP)) in.fill();
    if (console.session) {
      auto updates = console.session->poll(std::chrono::milliseconds(0));
      if (!updates.is_ok()) {
        say("Could not save your store: " + updates.status().to_string());
        continue;
      }
      for (const auto& u : *updates) console.show(u);
      if (console.replaced) {
        // Lines typed and not read yet: printed, to copy.
        while (auto line = in.buffered_line()) say("not sent: " + *line);
        return kExitReplaced;
      }
    } else if (++backoff % 5 == 0) {
      if (Status s = console.connect(); !s.is_ok()) say("(still offline: " + explain(s) + ")");
    }
  }
}

}  // namespace hearth::console
