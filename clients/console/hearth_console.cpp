// hearth-console: the responder's console.
//
// This is the line mode (`--plain`): one line in, one line out, usable with a
// screen reader, over a slow link, or from a script. It unlocks the
// responder's encrypted store, logs in with the certificate, checks the roster
// against the pinned org root, keeps prekeys stocked, and then shows new
// requests and messages as they arrive. The full-screen console builds on the
// same library.
#include <poll.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/terminal.h"
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
// responder types "/claim 2" rather than a case id.
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
  if (code == protocol::ErrorCode::kConflict) return "Another responder took that case first.";
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
  int current = 0;  // the case a plain line is sent to

  std::string label(ByteView case_id) { return "#" + std::to_string(numbers.number_of(case_id)); }

  void show(const ResponderUpdate& u) {
    const std::string at = "[" + cli::clock_time(u.minute) + "] ";
    switch (u.kind) {
      case ResponderUpdate::Kind::kNewCase:
        say(at + "new request " + label(u.case_id) + ": " + cli::printable(u.message.payload));
        say("   /claim " + std::to_string(numbers.number_of(u.case_id)) + " to take it");
        break;
      case ResponderUpdate::Kind::kMessage:
        say(at + label(u.case_id) + " survivor: " + cli::printable(u.message.payload));
        break;
      case ResponderUpdate::Kind::kClaimed:
        say(label(u.case_id) + " is yours.");
        break;
      case ResponderUpdate::Kind::kTakenByOther:
        say(label(u.case_id) + " was taken by another responder.");
        break;
      case ResponderUpdate::Kind::kClosed:
        say(label(u.case_id) + " was deleted by the survivor.");
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
      say(label(c.case_id) + (c.claimed ? " yours    " : " waiting  ") + c.queue + "  " + last);
    }
  }

  void command(const std::string& line) {
    std::istringstream words(line);
    std::string verb;
    words >> verb;
    int n = 0;
    words >> n;
    if (verb == "/help") {
      say("/cases         list your cases");
      say("/claim N       take case N");
      say("/to N          write to case N from now on");
      say("/history N     show case N's messages");
      say("/available     you can take cases;   /away   you cannot");
      say("/quit          leave (your keys stay locked in your data directory)");
      say("anything else  is sent to the current case");
    } else if (verb == "/cases") {
      list_cases();
    } else if (!session) {
      say("Not connected; retrying.");
    } else if (verb == "/claim") {
      const Bytes* id = numbers.id_of(n);
      if (!id) return say("No case #" + std::to_string(n) + ". /cases lists them.");
      auto queue = session->claim(*id);
      if (!queue.is_ok()) return say(explain(queue.status()));
      current = n;
      say("#" + std::to_string(n) + " is yours (" + *queue + "). Lines you type go to it.");
    } else if (verb == "/to") {
      if (!numbers.id_of(n)) return say("No case #" + std::to_string(n) + ".");
      current = n;
      say("Writing to #" + std::to_string(n) + ".");
    } else if (verb == "/history") {
      const Bytes* id = numbers.id_of(n);
      const ResponderCase* c = id ? session->state().find(*id) : nullptr;
      if (!c) return say("No case #" + std::to_string(n) + ".");
      for (const auto& e : c->transcript)
        say("[" + cli::clock_time(e.minute) + "] " +
            (e.author == Author::kSurvivor ? "survivor: " : "you: ") +
            cli::printable(e.plaintext.payload));
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
    if (!id) return say("Pick a case first: /claim N or /to N.");
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

int main(int argc, char** argv) {
  CLI::App app{"hearth-console: the responder's console (line mode)."};
  std::string server = "ws://127.0.0.1:8750/v1/ws";
  std::string data_dir;
  std::string passphrase_file;
  std::string ca_file;
  bool plain = true;
  app.add_option("--server", server, "hearthd's WebSocket URL (ws:// or wss://)")
      ->capture_default_str();
  app.add_option("--data", data_dir, "your data directory (made by hearth-admin)")->required();
  app.add_option("--passphrase-file", passphrase_file,
                 "read the passphrase from this file (else $HEARTH_PASSPHRASE, else a prompt)");
  app.add_option("--ca", ca_file, "for wss://: a PEM file of CA certificates to trust");
  app.add_flag("--plain", plain, "line mode: one line in, one line out (the default for now)");
  CLI11_PARSE(app, argc, argv);

  cli::LineReader in;
  auto passphrase = read_passphrase(passphrase_file, in);
  if (!passphrase) {
    std::fprintf(stderr, "hearth-console: no passphrase\n");
    return 2;
  }
  auto store = ResponderStore::open(data_dir, *passphrase);
  cli::wipe(*passphrase);
  if (!store.is_ok()) {
    std::fprintf(stderr, "hearth-console: cannot open %s: %s\n", data_dir.c_str(),
                 store.status().message().c_str());
    return 1;
  }
  Console console{**store, Endpoint{server, ca_file}, nullptr, {}, 0};
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
