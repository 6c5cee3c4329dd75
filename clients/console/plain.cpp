// hearth-console's line mode (`--plain`): one line in, one line out, usable with a
// screen reader, over a slow link, or from a script. It unlocks the
// responder's encrypted store, logs in with the certificate, checks the roster
// against the pinned org root, keeps prekeys stocked, and then tells the
// responder how many cases wait for them; `/next` takes the best one (the
// server's routing decides), and messages show as they arrive. Cases can be
// handed to another team (`/handoff`, the survivor consents) or closed with an
// outcome (`/close`); supervisors see queue health (`/health`). The
// full-screen console (tui.cpp) builds on the same library.
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/terminal.h"
#include "clients/console/console.h"
#include "clients/lib/responder_session.h"
#include "clients/lib/responder_store.h"

namespace {

using namespace hearth;
using namespace hearth::client;

// Every line goes through cli::printable: text from the server or a peer may
// carry control characters (a hostile server's error message, a message body).
void say(const std::string& text) {
  std::fputs(cli::printable(text).c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// Cases get small numbers, in the order this console first saw them, so a
// responder types "/close 2 referred" rather than a case id.
class CaseNumbers {
 public:
  int number_of(ByteView case_id) {
    Bytes key(case_id.begin(), case_id.end());
    auto it = numbers_.find(key);
    if (it != numbers_.end()) return it->second;
    numbers_.emplace(key, next_);
    ids_.emplace(next_, key);
    return next_++;
  }
  const Bytes* id_of(int number) const {
    auto it = ids_.find(number);
    return it == ids_.end() ? nullptr : &it->second;
  }

 private:
  std::map<Bytes, int> numbers_;
  std::map<int, Bytes> ids_;
  int next_ = 1;
};

std::string explain(const Status& status) {
  auto code = protocol_error(status);
  if (code == protocol::ErrorCode::kLimitExceeded)
    return "You are at capacity. Close a case first (/close N OUTCOME).";
  if (code == protocol::ErrorCode::kForbidden)
    return "The server refused that: it is not yours to do (" + status.message() + ").";
  if (code == protocol::ErrorCode::kRevoked)
    return "Your certificate has been revoked. Ask your organisation's admin.";
  if (code == protocol::ErrorCode::kNotOnRoster)
    return "Your certificate is not on the current roster. Ask your organisation's admin.";
  if (code == protocol::ErrorCode::kCertificateExpired)
    return "Your certificate has expired. Ask your organisation's admin for a new one.";
  return status.to_string();
}

struct Console {
  ResponderStore& store;
  Endpoint endpoint;
  std::unique_ptr<ResponderSession> session;
  CaseNumbers numbers;
  int current = 0;                    // the case a plain line is sent to
  std::vector<std::string> outcomes;  // what /close accepts (from the login)

  std::string label(ByteView case_id) { return "#" + std::to_string(numbers.number_of(case_id)); }

  std::string outcome_list() const {
    std::string out;
    for (const auto& o : outcomes) out += (out.empty() ? "" : ", ") + o;
    return out.empty() ? "(none listed by the server)" : out;
  }

  // The routing fields of a case just taken: what the survivor answered.
  void show_taken(int n, const protocol::TakenCase& t) {
    std::string needs;
    for (auto need : t.envelope.needs)
      needs += (needs.empty() ? "" : ", ") + std::string(protocol::need_name(need));
    std::string languages;
    for (const auto& l : t.envelope.languages) languages += (languages.empty() ? "" : ", ") + l;
    say("#" + std::to_string(n) + " is yours. Queue: " + t.queue + ". Class: " + t.priority_class +
        ".");
    say("   Needs: " + needs + ". Urgency: " +
        std::string(protocol::urgency_name(t.envelope.urgency)) + ". Languages: " + languages +
        ". Mode: " + std::string(protocol::mode_name(t.envelope.mode)) +
        (t.envelope.region ? ". Region: " + *t.envelope.region : std::string()) + ".");
    if (t.interpreter) say("   Interpreter needed: you share none of the survivor's languages.");
    say("   Waited " + wait_text(t.waited_s) + ". Lines you type go to this case.");
  }

  static std::string wait_text(std::int64_t seconds) {
    if (seconds < 60) return "under a minute";
    if (seconds < 7200) return std::to_string(seconds / 60) + " min";
    return std::to_string(seconds / 3600) + " h " + std::to_string(seconds % 3600 / 60) + " min";
  }

  // The first message of a case: text, or what the survivor chose to share
  // when another team handed the case over.
  void show_first(const std::string& at, const ResponderUpdate& u) {
    if (u.message.kind != static_cast<std::uint8_t>(PlaintextKind::kHandoffConsent)) {
      if (!u.text.empty()) return say(at + label(u.case_id) + " (" + u.text + ")");
      return say(at + label(u.case_id) + " survivor: " + cli::printable(u.message.payload));
    }
    auto handoff = decode_handoff(u.message);
    if (!handoff.is_ok())
      return say(at + label(u.case_id) + " handed over from another team (unreadable note).");
    switch (handoff->share) {
      case protocol::HandoffShare::kNewOnly:
        say(at + label(u.case_id) +
            " handed over from another team. The survivor chose to share only new messages.");
        break;
      case protocol::HandoffShare::kSummary:
        say(at + label(u.case_id) + " handed over from another team. The survivor's summary: " +
            cli::printable(handoff->summary));
        break;
      case protocol::HandoffShare::kHistory:
        say(at + label(u.case_id) + " handed over from another team. The conversation so far (" +
            std::to_string(handoff->history.size()) + " messages):");
        for (const auto& e : handoff->history)
          say("   [" + cli::clock_time(e.minute) + "] " +
              (e.author == Author::kSurvivor ? "survivor: " : "earlier responder: ") +
              cli::printable(e.plaintext.payload));
        say("   (end of the earlier conversation)");
        break;
    }
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
        if (u.waiting == 0) {
          say("Nobody is waiting for you.");
        } else {
          say(std::to_string(u.waiting) + " waiting (" + std::to_string(u.urgent) +
              " urgent) — /next");
        }
        break;
      case ResponderUpdate::Kind::kHandoffDeclined:
        say(label(u.case_id) + ": the survivor declined the handoff. The case stays with you.");
        break;
      case ResponderUpdate::Kind::kClosed:
        if (u.reason == protocol::CloseReason::kHandedOff)
          say(label(u.case_id) +
              ": the survivor accepted the handoff. The case has moved to the other team and is "
              "gone from this console.");
        else if (u.reason == protocol::CloseReason::kDeleted)
          say(label(u.case_id) + " was deleted by the survivor. It is gone from this console.");
        else
          say(label(u.case_id) + " was closed. It is gone from this console.");
        if (numbers.number_of(u.case_id) == current) current = 0;
        break;
      case ResponderUpdate::Kind::kWarning:
        say("(" + u.text + ")");
        break;
      case ResponderUpdate::Kind::kDisconnected:
        say("(connection lost)");
        session.reset();
        break;
    }
  }

  Status connect() {
    auto s = ResponderSession::login(endpoint, store);
    if (!s.is_ok()) return s.status();
    session = std::move(s).value();
    const LoginInfo& info = session->info();
    outcomes = info.outcomes;
    std::string queues;
    for (const auto& q : info.queues) queues += (queues.empty() ? "" : ", ") + q;
    say("Logged in as " + info.responder_id + " (queues: " + queues + ").");
    say("Roster epoch " + std::to_string(info.roster_epoch) + ", expires in " +
        std::to_string(info.roster_expires_in_hours) + " hours.");
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
    say("/history N         show case N's messages");
    say("/handoff N QUEUE   propose moving case N to another team's queue (the survivor decides)");
    say("/close N OUTCOME   close case N with an outcome: " + outcome_list());
    say("/health            queue health (supervisors)");
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
    show_taken(current, t);
  }

  void health() {
    auto reply = session->queue_health();
    if (!reply.is_ok()) {
      if (protocol_error(reply.status()) == protocol::ErrorCode::kForbidden)
        return say("Queue health is for supervisors.");
      return say(explain(reply.status()));
    }
    if (reply->queues.empty()) return say("No queues.");
    char line[160];
    std::snprintf(line, sizeof line, "%-22s %-16s %7s %12s %10s", "queue", "class", "waiting",
                  "longest", "target");
    say(line);
    for (const auto& q : reply->queues) {
      for (const auto& c : q.classes) {
        std::snprintf(line, sizeof line, "%-22s %-16s %7lld %12s %10s", q.queue.c_str(),
                      c.priority_class.c_str(), static_cast<long long>(c.waiting),
                      wait_text(c.longest_wait_s).c_str(), wait_text(c.target_s).c_str());
        say(line);
      }
      std::snprintf(line, sizeof line,
                    "%-22s responders: %lld available, %lld away; load %lld of %lld",
                    q.queue.c_str(), static_cast<long long>(q.responders_available),
                    static_cast<long long>(q.responders_away), static_cast<long long>(q.load),
                    static_cast<long long>(q.capacity));
      say(line);
    }
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
      for (const auto& e : c->transcript) {
        if (e.plaintext.kind == static_cast<std::uint8_t>(PlaintextKind::kHandoffConsent)) {
          ResponderUpdate first;
          first.case_id = c->case_id;
          first.message = e.plaintext;
          show_first("[" + cli::clock_time(e.minute) + "] ", first);
          continue;
        }
        say("[" + cli::clock_time(e.minute) + "] " +
            (e.author == Author::kSurvivor ? "survivor: " : "you: ") +
            cli::printable(e.plaintext.payload));
      }
    } else if (verb == "/handoff") {
      const Bytes* id = case_or_say(n);
      if (!id) return;
      if (arg.empty()) return say("Usage: /handoff N QUEUE, e.g. /handoff 2 legal");
      Status s = session->propose_handoff(*id, arg);
      if (!s.is_ok()) {
        if (protocol_error(s) == protocol::ErrorCode::kBadField)
          return say("There is no other queue called " + arg + ".");
        if (protocol_error(s) == protocol::ErrorCode::kNoResponder)
          return say("Nobody else can take cases in " + arg + " yet; the survivor was not asked.");
        return say(explain(s));
      }
      say("Proposed moving #" + std::to_string(n) + " to " + arg +
          ". The survivor decides; you keep the case until they accept.");
    } else if (verb == "/close") {
      const Bytes* id = case_or_say(n);
      if (!id) return;
      if (arg.empty()) return say("Usage: /close N OUTCOME. Outcomes: " + outcome_list());
      Status s = session->close_case(*id, arg);
      if (!s.is_ok()) {
        if (protocol_error(s) == protocol::ErrorCode::kBadField)
          return say("Not an outcome: " + arg + ". Outcomes: " + outcome_list());
        return say(explain(s));
      }
      if (current == n) current = 0;
      say("#" + std::to_string(n) + " closed (" + arg +
          "). Its messages are gone from this console.");
    } else if (verb == "/health") {
      health();
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

std::optional<std::string> read_passphrase(const std::string& file, cli::LineReader& in) {
  if (!file.empty()) {
    std::ifstream f(file);
    std::string line;
    if (!f || !std::getline(f, line)) return std::nullopt;
    return line;
  }
  if (const char* env = std::getenv("HEARTH_PASSPHRASE")) return std::string(env);
  return cli::read_hidden(in, "Passphrase: ");
}

}  // namespace

namespace hearth::console {

int run_plain(const Options& options) {
  cli::LineReader in;
  auto passphrase = read_passphrase(options.passphrase_file, in);
  if (!passphrase) {
    std::fprintf(stderr, "hearth-console: no passphrase\n");
    return 2;
  }
  auto store = ResponderStore::open(options.data_dir, *passphrase);
  cli::wipe(*passphrase);
  if (!store.is_ok()) {
    std::fprintf(stderr, "hearth-console: cannot open %s: %s\n", options.data_dir.c_str(),
                 store.status().message().c_str());
    return 1;
  }
  Console console{**store, Endpoint{options.server, options.ca_file}, nullptr, {}, 0, {}};
  if (Status s = console.connect(); !s.is_ok()) {
    std::fprintf(stderr, "hearth-console: %s\n", explain(s).c_str());
    auto code = protocol_error(s);
    return code == protocol::ErrorCode::kRevoked || code == protocol::ErrorCode::kNotOnRoster ||
                   code == protocol::ErrorCode::kCertificateExpired
               ? 3
               : 1;
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
    } else if (++backoff % 5 == 0) {
      if (Status s = console.connect(); !s.is_ok()) say("(still offline: " + explain(s) + ")");
    }
  }
}

}  // namespace hearth::console
