// hearth-console's full-screen face (ncursesw), the default on a terminal.
//
//   row 0        status bar: who, presence, "N waiting (K urgent)", roster
//                expiry, the pinned org root's fingerprint
//   next rows    a reverse-video banner per login warning (roster expiring, ...)
//   middle       left: my cases (number, queue, class, waited; * = unread);
//                right: the selected case's routing fields, conversation and
//                private notes — or a list (help, canned responses, referral
//                cards, queue health) until Esc
//   row -2       what just happened (errors in bold)
//   row -1       the compose line, edited at its cursor: text is sent to the
//                selected case with Enter; a line starting with / is a command
//
// Every key has a function key and a Ctrl-X letter (terminals and tmux differ
// in what they pass through), and every action a slash command; the help
// screen (F1, ?, Ctrl-X h, /help) lists them all. It works at 80×24, redraws
// on a resize, and reads keys without blocking: poll() waits on the terminal
// and the session's event fd together, as line mode does. The session logic
// and the words for every event are console_core's, shared with line mode.
// Text from the server or the survivor goes through cli::printable before it
// is drawn. Private notes live in the encrypted store and are never sent.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <clocale>
#include <cstdio>
#include <cwchar>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/terminal.h"
#include "clients/console/console.h"
#include "clients/console/console_core.h"
#include "clients/lib/directory.h"
#include "clients/lib/login_retry.h"
#include "clients/lib/responder_session.h"
#include "clients/lib/responder_store.h"
#include "common/clock.h"
#include "crypto/keys.h"

// ncurses last: its macros (OK, ERR, ...) stay out of the headers above, and
// NCURSES_NOMACROS keeps move()/clear()/erase() real functions, clear of std::.
#define NCURSES_NOMACROS 1
#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

namespace {

using namespace hearth;
using namespace hearth::client;
using namespace hearth::console;

constexpr std::uint32_t kCapacity = 3;  // cases at once when available (as line mode)
constexpr std::size_t kMaxComposeChars = 4000;
constexpr std::size_t kMaxLogLines = 2000;  // per case, in memory only
constexpr int kMinRows = 12;
constexpr int kMinCols = 50;

enum class Tone { kPlain, kSurvivor, kYou, kNote, kSystem };

struct PaneLine {
  Tone tone = Tone::kPlain;
  std::string text;  // already printable
};

// ---- text: UTF-8 ↔ wide, widths, wrapping ----

std::wstring widen(const std::string& utf8) {
  std::wstring out;
  std::mbstate_t state{};
  const char* p = utf8.data();
  std::size_t left = utf8.size();
  while (left > 0) {
    wchar_t wc = 0;
    std::size_t n = std::mbrtowc(&wc, p, left, &state);
    if (n == static_cast<std::size_t>(-1) || n == static_cast<std::size_t>(-2)) {
      out.push_back(L'?');  // not valid in this locale: shown, never interpreted
      state = std::mbstate_t{};
      ++p;
      --left;
      continue;
    }
    if (n == 0) n = 1;
    out.push_back(wc);
    p += n;
    left -= n;
  }
  return out;
}

std::string narrow(const std::wstring& wide) {
  std::string out;
  std::mbstate_t state{};
  char buf[MB_LEN_MAX];
  for (wchar_t wc : wide) {
    std::size_t n = std::wcrtomb(buf, wc, &state);
    if (n == static_cast<std::size_t>(-1)) {
      out.push_back('?');
      state = std::mbstate_t{};
      continue;
    }
    out.append(buf, n);
  }
  return out;
}

int cell_width(wchar_t wc) {
  int w = ::wcwidth(wc);
  return w < 0 ? 1 : w;
}

int text_width(const std::wstring& s) {
  int w = 0;
  for (wchar_t wc : s) w += cell_width(wc);
  return w;
}

// Breaks `text` into lines of at most `width` cells, at spaces where it can.
std::vector<std::wstring> wrap(const std::wstring& text, int width) {
  std::vector<std::wstring> lines;
  if (width < 1) return lines;
  std::wstring line;
  int line_w = 0;
  std::size_t last_space = std::wstring::npos;
  for (wchar_t wc : text) {
    const int w = cell_width(wc);
    if (line_w + w > width) {
      if (last_space != std::wstring::npos && last_space > 0) {
        std::wstring rest = line.substr(last_space + 1);
        line.resize(last_space);
        lines.push_back(line);
        line = rest;
      } else {
        lines.push_back(line);
        line.clear();
      }
      line_w = text_width(line);
      last_space = std::wstring::npos;
    }
    if (wc == L' ') last_space = line.size();
    line.push_back(wc);
    line_w += w;
  }
  lines.push_back(line);
  return lines;
}

// Draws `text` at (y, x), cut to `width` cells, padding the rest with spaces.
void put(int y, int x, const std::wstring& text, int width) {
  if (width <= 0) return;
  std::wstring cut;
  int w = 0;
  for (wchar_t wc : text) {
    const int cw = cell_width(wc);
    if (w + cw > width) break;
    cut.push_back(wc);
    w += cw;
  }
  cut.append(static_cast<std::size_t>(width - w), L' ');
  ::mvaddnwstr(y, x, cut.c_str(), static_cast<int>(cut.size()));
}

void put(int y, int x, const std::string& utf8, int width) { put(y, x, widen(utf8), width); }

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

bool is_number(const std::string& s) {
  return !s.empty() && s.size() < 7 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---- the console ----

class Tui {
 public:
  Tui(ResponderStore& store, Endpoint endpoint, std::unique_ptr<ResponderSession> session,
      std::optional<Directory> directory)
      : store_(store),
        endpoint_(std::move(endpoint)),
        session_(std::move(session)),
        directory_(std::move(directory)),
        routing_(stored_routing(store.state())) {
    on_login();
    note("Logged in as " + info_.responder_id + ". F1 or ? for help; /next takes a case.");
  }

  int run();
  // The line being typed, not sent (printed after close 4001, to copy).
  std::string unsent() const { return narrow(compose_); }

 private:
  // -- events and actions --
  void on_login();
  bool connect();
  void handle(const ResponderUpdate& u);
  void key(bool function_key, wint_t ch);
  void prefixed(wint_t ch);
  void submit();
  void command(const std::string& line);
  void take_next();
  void send_text(const std::string& text);
  void add_note(const std::string& text);
  void canned(const std::string& arg);
  void refer(const std::string& arg);
  void handoff(const std::vector<std::string>& args);
  void close(const std::vector<std::string>& args);
  void presence(protocol::Presence p);
  void health();
  void dismiss(const std::vector<std::string>& args, const std::string& line);
  void help();
  void select_case(int number);
  void cycle(int step);

  // -- state helpers --
  std::vector<int> case_numbers();
  const Bytes* selected_id() const;
  const Bytes* case_for(const std::vector<std::string>& args, std::size_t& used);
  bool ensure_log(const Bytes& id);
  void append(const Bytes& id, Tone tone, std::string text);
  std::vector<const ReferralCard*> cards_for_selected(bool all, std::string& why);
  void note(std::string text) {
    message_ = std::move(text);
    message_alert_ = false;
  }
  void alert(std::string text) {
    message_ = std::move(text);
    message_alert_ = true;
  }
  void show_list(std::string title, std::vector<std::string> lines) {
    overlay_title_ = std::move(title);
    overlay_ = std::move(lines);
    overlay_scroll_ = 0;
  }
  bool logged_in() {
    if (session_) return true;
    alert("Not connected; reconnecting. Your line was kept.");
    return false;
  }

  // -- drawing --
  void draw();
  void draw_status(int cols);
  int draw_banners(int row, int cols);
  void draw_cases(int top, int bottom, int width);
  void draw_pane(int top, int bottom, int left, int width);
  void draw_overlay(int top, int bottom, int cols);

  // -- the compose line: edited at the cursor --
  void set_compose(std::wstring text) {
    compose_ = std::move(text);
    cursor_ = compose_.size();
    compose_start_ = 0;
  }
  void insert_char(wchar_t ch) {
    if (compose_.size() >= kMaxComposeChars) return;
    compose_.insert(compose_.begin() + static_cast<std::ptrdiff_t>(cursor_), ch);
    ++cursor_;
  }
  // Deletes [from, to) and leaves the cursor at `from`.
  void erase_range(std::size_t from, std::size_t to) {
    compose_.erase(from, to - from);
    cursor_ = from;
  }
  void backspace() {
    if (cursor_ > 0) erase_range(cursor_ - 1, cursor_);
  }
  void delete_char() {
    if (cursor_ < compose_.size()) compose_.erase(cursor_, 1);
  }
  void delete_word_before() {  // Ctrl-W: the spaces, then the word, before the cursor
    std::size_t from = cursor_;
    while (from > 0 && compose_[from - 1] == L' ') --from;
    while (from > 0 && compose_[from - 1] != L' ') --from;
    erase_range(from, cursor_);
  }

  ResponderStore& store_;
  Endpoint endpoint_;
  std::unique_ptr<ResponderSession> session_;
  std::optional<Directory> directory_;
  LoginInfo info_;
  CaseNumbers numbers_;
  std::map<Bytes, protocol::TakenCase> routing_;  // routing fields of my cases, where known
  std::map<Bytes, std::vector<PaneLine>> logs_;   // what the pane shows, per case
  std::map<Bytes, int> unread_;
  std::vector<const ReferralCard*> listed_cards_;  // what "/refer N" numbers
  int selected_ = 0;                               // the case shown (0: none)
  int scroll_ = 0;                                 // lines scrolled back from the end
  std::wstring compose_;
  std::size_t cursor_ = 0;         // where typing goes in compose_, 0..size()
  std::size_t compose_start_ = 0;  // the first character shown, for a line wider than the screen
  std::string message_;
  bool message_alert_ = false;
  std::string overlay_title_;
  std::vector<std::string> overlay_;
  int overlay_scroll_ = 0;     // lines of the list scrolled past (PgDn)
  std::int64_t waiting_ = -1;  // unknown until the server says
  std::int64_t urgent_ = 0;
  protocol::Presence presence_ = protocol::Presence::kAvailable;  // hearthd's default online
  bool prefix_ = false;                                           // Ctrl-X was pressed
  bool quit_ = false;
  bool replaced_ = false;  // signed in elsewhere (4001): leave, do not log in again
  std::string refusal_;    // why the last reconnect was refused (empty: it was not)
};

void Tui::on_login() {
  info_ = session_->info();
  // A new login is available again on the server: say the same here, then
  // restore what the responder chose.
  if (presence_ == protocol::Presence::kAway) {
    Status s = session_->set_presence(protocol::Presence::kAway, kCapacity);
    if (!s.is_ok()) presence_ = protocol::Presence::kAvailable;
  }
}

bool Tui::connect() {
  auto s = ResponderSession::login(endpoint_, store_);
  if (!s.is_ok()) {
    // Unreachable is routine; anything else (the roster does not verify
    // against the pinned root, a rollback, revoked, not on the roster) is a
    // refusal, shown as a banner until a login succeeds.
    // A server turning logins away for load (rate_limited, unavailable) is
    // routine too: the loop tries again.
    if (s.status().code() != Code::kUnavailable && !login_retryable(s.status()))
      refusal_ = explain(s.status());
    alert("Still offline: " + explain(s.status()));
    return false;
  }
  refusal_.clear();
  session_ = std::move(s).value();
  on_login();
  note("Reconnected.");
  return true;
}

std::vector<int> Tui::case_numbers() {
  std::vector<int> out;
  const auto& cases = store_.state().cases;
  out.reserve(cases.size() + routing_.size());
  for (const auto& c : cases) out.push_back(numbers_.number_of(c.case_id));
  // A case taken this run whose first message has not arrived yet.
  for (const auto& [id, taken] : routing_) {
    int n = numbers_.number_of(id);
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const Bytes* Tui::selected_id() const { return selected_ ? numbers_.id_of(selected_) : nullptr; }

// The case a command names: "N" as its first argument, else the selected one.
const Bytes* Tui::case_for(const std::vector<std::string>& args, std::size_t& used) {
  used = 0;
  if (!args.empty() && is_number(args[0])) {
    used = 1;
    const int n = std::stoi(args[0]);
    const Bytes* id = numbers_.id_of(n);
    if (id == nullptr || (store_.state().find(*id) == nullptr && !routing_.count(*id))) {
      alert("No case #" + args[0] + ".");
      return nullptr;
    }
    return id;
  }
  const Bytes* id = selected_id();
  if (id == nullptr) alert("Pick a case first: Tab switches, /next takes one.");
  return id;
}

// Builds a case's pane from the store (transcript and notes, in time order)
// the first time it is needed. Returns true when it was built now: what just
// happened is then already in it.
bool Tui::ensure_log(const Bytes& id) {
  if (logs_.count(id)) return false;
  std::vector<PaneLine>& log = logs_[id];
  const ResponderCase* c = store_.state().find(id);
  if (c == nullptr) return true;
  std::size_t n = 0;
  for (const auto& e : c->transcript) {
    while (n < c->notes.size() && c->notes[n].minute < e.minute) {
      log.push_back({Tone::kNote, "[" + cli::clock_time(c->notes[n].minute) +
                                      "] note: " + cli::printable(c->notes[n].text)});
      ++n;
    }
    const std::string at = "[" + cli::clock_time(e.minute) + "] ";
    if (e.author == Author::kResponder) {
      log.push_back({Tone::kYou, at + "you: " + cli::printable(e.plaintext.payload)});
      continue;
    }
    for (const auto& line : first_message_lines(e.plaintext))
      log.push_back({Tone::kSurvivor, at + line});
  }
  for (; n < c->notes.size(); ++n)
    log.push_back({Tone::kNote, "[" + cli::clock_time(c->notes[n].minute) +
                                    "] note: " + cli::printable(c->notes[n].text)});
  return true;
}

void Tui::append(const Bytes& id, Tone tone, std::string text) {
  auto& log = logs_[id];
  log.push_back({tone, std::move(text)});
  if (log.size() > kMaxLogLines) log.erase(log.begin());
}

void Tui::select_case(int number) {
  const Bytes* id = numbers_.id_of(number);
  if (id == nullptr) return;
  selected_ = number;
  scroll_ = 0;
  unread_.erase(*id);
  overlay_.clear();
}

void Tui::cycle(int step) {
  std::vector<int> all = case_numbers();
  if (all.empty()) return note("No cases yet: /next (or Ctrl-N, F2) takes one.");
  auto it = std::find(all.begin(), all.end(), selected_);
  int i = it == all.end() ? 0 : static_cast<int>(it - all.begin()) + step;
  const int count = static_cast<int>(all.size());
  i = ((i % count) + count) % count;
  select_case(all[static_cast<std::size_t>(i)]);
}

void Tui::handle(const ResponderUpdate& u) {
  // Events without a time of their own (a declined handoff) are stamped now.
  const std::string at =
      "[" + cli::clock_time(u.minute ? u.minute : to_minute(SystemClock().now())) + "] ";
  switch (u.kind) {
    case ResponderUpdate::Kind::kNewCase: {
      const int n = numbers_.number_of(u.case_id);
      if (u.taken) routing_[u.case_id] = *u.taken;
      logs_.erase(u.case_id);
      ensure_log(u.case_id);
      if (!u.text.empty()) append(u.case_id, Tone::kSystem, "(" + cli::printable(u.text) + ")");
      if (selected_ == 0 || selected_ == n) {
        select_case(n);
      } else {
        unread_[u.case_id]++;
      }
      note("#" + std::to_string(n) + ": the survivor's first message arrived.");
      break;
    }
    case ResponderUpdate::Kind::kMessage: {
      const int n = numbers_.number_of(u.case_id);
      if (!ensure_log(u.case_id))
        append(u.case_id, Tone::kSurvivor, at + "survivor: " + cli::printable(u.message.payload));
      if (n != selected_) {
        unread_[u.case_id]++;
        note("#" + std::to_string(n) + ": a new message (Tab to switch).");
      } else {
        scroll_ = 0;
      }
      break;
    }
    case ResponderUpdate::Kind::kWaiting:
      waiting_ = u.waiting;
      urgent_ = u.urgent;
      break;
    case ResponderUpdate::Kind::kHandoffDeclined: {
      const std::string label = "#" + std::to_string(numbers_.number_of(u.case_id));
      ensure_log(u.case_id);
      append(u.case_id, Tone::kSystem, at + "The survivor declined the handoff; the case stays.");
      alert(label + ": the survivor declined the handoff. The case stays with you.");
      break;
    }
    case ResponderUpdate::Kind::kClosed: {
      const int n = numbers_.number_of(u.case_id);
      alert(closed_text("#" + std::to_string(n), u.reason));
      logs_.erase(u.case_id);
      routing_.erase(u.case_id);
      unread_.erase(u.case_id);
      if (selected_ == n) {
        selected_ = 0;
        std::vector<int> rest = case_numbers();
        if (!rest.empty()) select_case(rest.front());
      }
      break;
    }
    case ResponderUpdate::Kind::kWarning:
      alert("(" + cli::printable(u.text) + ")");
      break;
    case ResponderUpdate::Kind::kDisconnected:
      alert("Connection lost; reconnecting…");
      session_.reset();
      break;
    case ResponderUpdate::Kind::kReplaced:
      session_.reset();
      replaced_ = true;
      break;
  }
}

void Tui::take_next() {
  if (!logged_in()) return;
  auto taken = session_->take_next();
  if (!taken.is_ok()) return alert(explain(taken.status()));
  if (!taken->has_value()) return note("Nobody is waiting for you right now.");
  const protocol::TakenCase& t = **taken;
  routing_[t.case_id] = t;
  const int n = numbers_.number_of(t.case_id);
  select_case(n);
  note("#" + std::to_string(n) + " is yours: " + routing_summary(t) + ", waited " +
       wait_text(t.waited_s) + ". Type to reply.");
}

void Tui::send_text(const std::string& text) {
  const Bytes* id = selected_id();
  if (id == nullptr) return alert("Pick a case first: /next takes one, Tab switches.");
  if (!logged_in()) return;
  Status s = session_->send(*id, text);
  if (!s.is_ok()) return alert(explain(s));
  const bool built = ensure_log(*id);
  if (!built)
    append(
        *id, Tone::kYou,
        "[" + cli::clock_time(to_minute(SystemClock().now())) + "] you: " + cli::printable(text));
  scroll_ = 0;
  note("Sent to #" + std::to_string(selected_) + ".");
}

void Tui::add_note(const std::string& text) {
  const Bytes* id = selected_id();
  if (id == nullptr) return alert("Pick a case first: a note belongs to a case.");
  if (text.empty()) return alert("Usage: /note TEXT (a private note, kept only on this machine)");
  if (store_.state().find(*id) == nullptr)
    return alert("The case's first message has not arrived yet; try again in a moment.");
  Status s = add_private_note(store_, *id, text);
  if (!s.is_ok()) return alert("Could not keep the note: " + s.message());
  if (!ensure_log(*id))
    append(
        *id, Tone::kNote,
        "[" + cli::clock_time(to_minute(SystemClock().now())) + "] note: " + cli::printable(text));
  scroll_ = 0;
  note("Note kept on #" + std::to_string(selected_) +
       " (encrypted on this machine; never sent to anyone).");
}

void Tui::canned(const std::string& arg) {
  if (!directory_ || directory_->canned.empty())
    return alert("No canned responses: start with --directory FILE (the org's directory).");
  if (arg.empty()) {
    std::vector<std::string> lines = canned_lines(*directory_);
    lines.emplace_back();
    lines.emplace_back("/canned N or /canned ID puts it in the compose line; edit it, then Enter.");
    return show_list("Canned responses", std::move(lines));
  }
  const CannedResponse* c = find_canned(*directory_, arg);
  if (c == nullptr) return alert("No canned response " + arg + ". /canned lists them.");
  overlay_.clear();
  set_compose(widen(c->text));
  note("Canned response \"" + c->title + "\" is in the compose line: edit it, then Enter sends.");
}

std::vector<const ReferralCard*> Tui::cards_for_selected(bool all, std::string& why) {
  const Bytes* id = selected_id();
  auto routed = id ? routing_.find(*id) : routing_.end();
  return referrals_for(*directory_, routed != routing_.end() ? &routed->second.envelope : nullptr,
                       all, why);
}

void Tui::refer(const std::string& arg) {
  if (!directory_ || directory_->referrals.empty())
    return alert("No referral cards: start with --directory FILE (the org's directory).");
  if (arg.empty() || arg == "all") {
    std::string why;
    listed_cards_ = cards_for_selected(arg == "all", why);
    std::vector<std::string> lines = referral_lines(listed_cards_);
    if (listed_cards_.empty()) lines.emplace_back("No card matches. /refer all lists every card.");
    lines.emplace_back();
    lines.emplace_back(
        "/refer N or /refer ID sends that card to the survivor; /refer all lists all.");
    return show_list("Referral cards for case #" + std::to_string(selected_) + ", " + why,
                     std::move(lines));
  }
  if (listed_cards_.empty()) {
    std::string why;
    listed_cards_ = cards_for_selected(false, why);
  }
  const ReferralCard* card = find_referral(*directory_, listed_cards_, arg);
  if (card == nullptr) return alert("No referral card " + arg + ". /refer lists them.");
  overlay_.clear();
  send_text(render_referral(*card));
}

void Tui::handoff(const std::vector<std::string>& args) {
  std::size_t used = 0;
  const Bytes* id = case_for(args, used);
  if (id == nullptr) return;
  if (args.size() != used + 1)
    return alert("Usage: /handoff QUEUE (or /handoff N QUEUE), e.g. /handoff legal");
  if (!logged_in()) return;
  const std::string& queue = args[used];
  const int n = numbers_.number_of(*id);
  Status s = session_->propose_handoff(*id, queue);
  if (!s.is_ok()) return alert(handoff_refusal(s, queue));
  ensure_log(*id);
  append(*id, Tone::kSystem,
         "[" + cli::clock_time(to_minute(SystemClock().now())) + "] You proposed the " + queue +
             " team; the survivor decides.");
  note("Proposed moving #" + std::to_string(n) + " to " + queue +
       ". The survivor decides; you keep the case until they accept.");
}

void Tui::close(const std::vector<std::string>& args) {
  std::size_t used = 0;
  const Bytes* id = case_for(args, used);
  if (id == nullptr) return;
  if (args.size() != used + 1)
    return alert("Usage: /close OUTCOME (or /close N OUTCOME). Outcomes: " +
                 outcome_list(info_.outcomes));
  if (!logged_in()) return;
  const std::string& outcome = args[used];
  const Bytes id_copy = *id;
  const int n = numbers_.number_of(id_copy);
  Status s = session_->close_case(id_copy, outcome);
  if (!s.is_ok()) return alert(close_refusal(s, outcome, info_.outcomes));
  logs_.erase(id_copy);
  routing_.erase(id_copy);
  unread_.erase(id_copy);
  if (selected_ == n) {
    selected_ = 0;
    std::vector<int> rest = case_numbers();
    if (!rest.empty()) select_case(rest.front());
  }
  note("#" + std::to_string(n) + " closed (" + outcome +
       "). Its messages and notes are gone from this console.");
}

void Tui::presence(protocol::Presence p) {
  if (!logged_in()) return;
  Status s = session_->set_presence(p, kCapacity);
  if (!s.is_ok()) return alert(explain(s));
  presence_ = p;
  note(p == protocol::Presence::kAway ? "You are away: no new cases are routed to you."
                                      : "You are available for cases.");
}

void Tui::health() {
  if (!logged_in()) return;
  auto reply = session_->queue_health();
  if (!reply.is_ok()) {
    if (protocol_error(reply.status()) == protocol::ErrorCode::kForbidden)
      return alert("Queue health is for supervisors.");
    return alert(explain(reply.status()));
  }
  show_list("Queue health", health_lines(*reply));
}

// /dismiss ARGS: says what it would delete; /dismiss ARGS yes does it.
void Tui::dismiss(const std::vector<std::string>& args, const std::string& line) {
  auto parsed = parse_dismiss(args, SystemClock().now());
  if (!parsed.is_ok()) return alert(parsed.status().message());
  if (!parsed->confirmed) return alert(dismiss_confirm_text(*parsed, line));
  if (!logged_in()) return;
  auto reply = session_->dismiss_waiting(parsed->request);
  if (!reply.is_ok()) {
    if (protocol_error(reply.status()) == protocol::ErrorCode::kForbidden)
      return alert("Dismissing waiting cases is for supervisors.");
    return alert(explain(reply.status()));
  }
  note(dismiss_result_text(*reply));
}

void Tui::help() {
  // Fits 80×24 with a warning banner; PgDn scrolls when the screen is smaller.
  std::vector<std::string> lines = {
      "Type, Enter sends to the selected case. Keys (or Ctrl-X then the letter in []):",
      "F1 ? [h]  this help      F2 Ctrl-N [n] take next    Tab Down / S-Tab Up  switch",
      "F3 [c]    canned list    F4 [r] referral cards      PgUp PgDn  scroll",
      "F5 [a]    available/away F6 [s] queue health        F10 [q]  quit",
      "Esc  close a list / clear the line   Ctrl-U clear  Ctrl-W word  Ctrl-L redraw",
      "Ctrl-X 1..9  select case 1..9   Left Right Home End Del Ctrl-K  edit the line",
      "Commands, typed into the compose line:",
      "/next               take the next waiting case (the server's routing picks it)",
      "/to N               select case N",
      "/note TEXT          a private note on this case: encrypted here, never sent",
      "/canned [N|ID]      list canned responses, or put one in the line to edit",
      "/refer [N|ID|all]   list referral cards for this case, or send one",
      "/handoff [N] QUEUE  propose another team's queue (the survivor decides)",
      "/close [N] OUTCOME  close: " + outcome_list(info_.outcomes),
      "/dismiss [away] [queue Q] [last MIN] [yes]  delete waiting cases nobody took",
      "/available /away /health /help /quit",
      "The org root fingerprint you pinned:",
      crypto::fingerprint(store_.state().org_root),
  };
  show_list("Help: every key and command (Esc closes)", std::move(lines));
}

void Tui::command(const std::string& line) {
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  std::vector<std::string> args;
  for (std::string w; in >> w;) args.push_back(w);
  // The text after the verb, for /note.
  const std::string rest = trim(line.substr(verb.size()));
  const std::string arg = args.empty() ? "" : args[0];
  if (verb == "/help" || verb == "/?") {
    help();
  } else if (verb == "/quit" || verb == "/exit") {
    quit_ = true;
  } else if (verb == "/next") {
    take_next();
  } else if (verb == "/to") {
    if (!is_number(arg) || numbers_.id_of(std::stoi(arg)) == nullptr)
      return alert("Usage: /to N, a case number from the list on the left.");
    select_case(std::stoi(arg));
  } else if (verb == "/note") {
    add_note(rest);
  } else if (verb == "/canned") {
    canned(arg);
  } else if (verb == "/refer") {
    refer(arg);
  } else if (verb == "/handoff") {
    handoff(args);
  } else if (verb == "/close") {
    close(args);
  } else if (verb == "/away") {
    presence(protocol::Presence::kAway);
  } else if (verb == "/available") {
    presence(protocol::Presence::kAvailable);
  } else if (verb == "/health") {
    health();
  } else if (verb == "/dismiss") {
    dismiss(args, line);
  } else {
    alert("Unknown command " + verb + ". F1 or /help lists them.");
  }
}

void Tui::submit() {
  std::string line = narrow(compose_);
  if (trim(line).empty()) return;
  if (line[0] == '/') {
    set_compose({});
    command(trim(line));
    return;
  }
  const Bytes* id = selected_id();
  if (id == nullptr) return alert("Pick a case first: /next takes one, Tab switches.");
  if (!session_) return alert("Not connected; your line was kept. Reconnecting…");
  set_compose({});
  send_text(line);
  cli::wipe(line);
}

void Tui::prefixed(wint_t ch) {
  switch (ch) {
    case L'h':
    case L'?':
      return help();
    case L'n':
      return take_next();
    case L'c':
      return canned("");
    case L'r':
      return refer("");
    case L'a':
      return presence(presence_ == protocol::Presence::kAway ? protocol::Presence::kAvailable
                                                             : protocol::Presence::kAway);
    case L's':
      return health();
    case L'q':
      quit_ = true;
      return;
    default:
      if (ch >= L'1' && ch <= L'9') {
        const int n = static_cast<int>(ch - L'0');
        if (numbers_.id_of(n) == nullptr) return alert("No case #" + std::to_string(n) + ".");
        return select_case(n);
      }
      alert("Ctrl-X then: h help, n next, c canned, r refer, a away/available, s health, q quit");
  }
}

void Tui::key(bool function_key, wint_t ch) {
  if (prefix_) {
    prefix_ = false;
    if (!function_key) return prefixed(ch);
  }
  if (function_key) {
    switch (ch) {
      case KEY_RESIZE:
        return;  // draw() measures the new size
      case KEY_F(1):
        return help();
      case KEY_F(2):
        return take_next();
      case KEY_F(3):
        return canned("");
      case KEY_F(4):
        return refer("");
      case KEY_F(5):
        return presence(presence_ == protocol::Presence::kAway ? protocol::Presence::kAvailable
                                                               : protocol::Presence::kAway);
      case KEY_F(6):
        return health();
      case KEY_F(10):
        quit_ = true;
        return;
      case KEY_ENTER:
        return submit();
      case KEY_BACKSPACE:
        return backspace();
      case KEY_DC:
        return delete_char();
      case KEY_LEFT:
        if (cursor_ > 0) --cursor_;
        return;
      case KEY_RIGHT:
        if (cursor_ < compose_.size()) ++cursor_;
        return;
      case KEY_HOME:
        cursor_ = 0;
        return;
      case KEY_END:
        cursor_ = compose_.size();
        return;
      case KEY_DOWN:
        return cycle(1);
      case KEY_UP:
      case KEY_BTAB:
        return cycle(-1);
      case KEY_PPAGE:
        if (!overlay_.empty())
          overlay_scroll_ = std::max(0, overlay_scroll_ - 5);
        else
          scroll_ += 5;
        return;
      case KEY_NPAGE:
        if (!overlay_.empty())
          overlay_scroll_ += 5;
        else
          scroll_ = std::max(0, scroll_ - 5);
        return;
      default:
        return;
    }
  }
  switch (ch) {
    case L'\n':
    case L'\r':
      return submit();
    case L'\t':
      return cycle(1);
    case 0x7f:
    case 0x08:
      return backspace();
    case 0x01:  // Ctrl-A
      cursor_ = 0;
      return;
    case 0x05:  // Ctrl-E
      cursor_ = compose_.size();
      return;
    case 0x0b:  // Ctrl-K: from the cursor to the end
      return erase_range(cursor_, compose_.size());
    case 0x0e:  // Ctrl-N
      return take_next();
    case 0x18:  // Ctrl-X
      prefix_ = true;
      return note("Ctrl-X: h help, n next, c canned, r refer, a away/available, s health, q quit");
    case 0x15:  // Ctrl-U
      return set_compose({});
    case 0x17:  // Ctrl-W
      return delete_word_before();
    case 0x0c:  // Ctrl-L
      ::clearok(stdscr, TRUE);
      return;
    case 0x1b:  // Esc
      if (!overlay_.empty()) {
        overlay_.clear();
      } else {
        set_compose({});
      }
      return;
    case 0x03:  // Ctrl-C: raw mode; quitting is deliberate
      return note("To leave: /quit, F10 or Ctrl-X q.");
    default:
      break;
  }
  if (ch == L'?' && compose_.empty()) return help();
  if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && ch < 0xa0)) return;  // other controls
  insert_char(static_cast<wchar_t>(ch));
}

// ---- drawing ----

void Tui::draw_status(int cols) {
  std::string bar = " " + (info_.responder_id.empty() ? "?" : info_.responder_id) + " | ";
  if (!session_)
    bar += "OFFLINE";
  else
    bar += presence_ == protocol::Presence::kAway ? "away" : "available";
  bar += " | ";
  bar += waiting_ < 0
             ? "waiting: ?"
             : std::to_string(waiting_) + " waiting (" + std::to_string(urgent_) + " urgent)";
  bar += " | roster " + std::to_string(info_.roster_expires_in_hours) + "h";
  std::string root = crypto::fingerprint(store_.state().org_root);
  bar += " | root " + root.substr(0, std::min<std::size_t>(root.size(), 9));
  ::attron(A_REVERSE);
  put(0, 0, cli::printable(bar), cols);
  ::attroff(A_REVERSE);
}

int Tui::draw_banners(int row, int cols) {
  // Loud on purpose: a roster about to expire or a failed prekey upload
  // stops cases reaching this responder; a refused reconnect (the roster
  // does not verify against the pinned org root, revoked, ...) even more so.
  if (!refusal_.empty()) {
    ::attron(A_REVERSE | A_BOLD);
    put(row++, 0, "!! LOGIN REFUSED: " + cli::printable(refusal_) + " !!", cols);
    ::attroff(A_REVERSE | A_BOLD);
  }
  for (std::size_t i = 0; i < info_.warnings.size() && i < 2; ++i) {
    ::attron(A_REVERSE | A_BOLD);
    put(row++, 0, "!! WARNING: " + cli::printable(info_.warnings[i]) + " !!", cols);
    ::attroff(A_REVERSE | A_BOLD);
  }
  return row;
}

void Tui::draw_cases(int top, int bottom, int width) {
  ::attron(A_BOLD);
  put(top, 0, "My cases", width);
  ::attroff(A_BOLD);
  int row = top + 1;
  for (int n : case_numbers()) {
    if (row >= bottom) break;
    const Bytes* id = numbers_.id_of(n);
    std::string line = "#" + std::to_string(n) + " ";
    auto routed = routing_.find(*id);
    const ResponderCase* c = store_.state().find(*id);
    if (routed != routing_.end()) {
      line += routing_summary(routed->second);
      line += " " + std::to_string(routed->second.waited_s / 60) + "m";
    } else if (c && !c->queue.empty()) {
      line += c->queue;
    }
    if (unread_.count(*id)) line += " *";
    if (n == selected_) ::attron(A_REVERSE);
    put(row++, 0, cli::printable(line), width);
    if (n == selected_) ::attroff(A_REVERSE);
  }
  if (row == top + 1) put(row, 0, "(none: /next)", width);
}

void Tui::draw_pane(int top, int bottom, int left, int width) {
  const Bytes* id = selected_id();
  if (id == nullptr) {
    put(top, left, "No case selected.", width);
    put(top + 2, left, "/next (Ctrl-N, F2) takes the next waiting case.", width);
    put(top + 3, left, "F1 or ? lists every key and command.", width);
    return;
  }
  std::vector<std::pair<Tone, std::wstring>> rows;
  auto add = [&](Tone tone, const std::string& text) {
    for (auto& l : wrap(widen(text), width)) rows.emplace_back(tone, std::move(l));
  };
  auto routed = routing_.find(*id);
  if (routed != routing_.end()) {
    for (const auto& l : routing_lines(routed->second)) add(Tone::kSystem, cli::printable(l));
  } else if (const ResponderCase* c = store_.state().find(*id); c && !c->queue.empty()) {
    add(Tone::kSystem, "Queue: " + cli::printable(c->queue) + ".");
  }
  ensure_log(*id);
  const auto& log = logs_[*id];
  if (log.empty()) add(Tone::kSystem, "(waiting for the survivor's first message…)");
  for (const auto& l : log) add(l.tone, l.text);
  const int height = bottom - top - 1;
  if (height <= 0) return;
  ::attron(A_BOLD);
  put(top, left, "Case #" + std::to_string(selected_), width);
  ::attroff(A_BOLD);
  const int total = static_cast<int>(rows.size());
  scroll_ = std::clamp(scroll_, 0, std::max(0, total - height));
  const int first = std::max(0, total - height - scroll_);
  for (int i = 0; i < height && first + i < total; ++i) {
    const int row = first + i;  // < total, an int
    const auto& [tone, text] = rows[static_cast<std::size_t>(row)];
    attr_t a = A_NORMAL;
    if (tone == Tone::kSystem) a = A_DIM;
    if (tone == Tone::kYou) a = A_BOLD;
    if (tone == Tone::kNote) a = A_UNDERLINE;
    ::attr_on(a, nullptr);
    put(top + 1 + i, left, text, width);
    ::attr_off(a, nullptr);
  }
}

void Tui::draw_overlay(int top, int bottom, int cols) {
  ::attron(A_BOLD);
  put(top, 0, cli::printable(overlay_title_), cols);
  ::attroff(A_BOLD);
  std::vector<std::wstring> rows;
  for (const auto& line : overlay_)
    for (auto& l : wrap(widen(cli::printable(line)), cols)) rows.push_back(std::move(l));
  const int height = bottom - top - 1;
  const int total = static_cast<int>(rows.size());
  overlay_scroll_ = std::clamp(overlay_scroll_, 0, std::max(0, total - height));
  for (int i = 0; i < height && overlay_scroll_ + i < total; ++i) {
    const bool more = i == height - 1 && overlay_scroll_ + height < total;
    const int row = overlay_scroll_ + i;  // < total, an int
    if (more) ::attron(A_REVERSE);
    put(top + 1 + i, 0,
        more ? std::wstring(L"-- more: PgDn --") : rows[static_cast<std::size_t>(row)], cols);
    if (more) ::attroff(A_REVERSE);
  }
}

void Tui::draw() {
  ::erase();
  const int rows = LINES;
  const int cols = COLS;
  if (rows < kMinRows || cols < kMinCols) {
    put(0, 0,
        "hearth-console: the terminal is too small (at least " + std::to_string(kMinCols) + "x" +
            std::to_string(kMinRows) + ").",
        cols);
    ::refresh();
    return;
  }
  draw_status(cols);
  int top = draw_banners(1, cols);
  const int bottom = rows - 2;  // the message line
  if (!overlay_.empty()) {
    draw_overlay(top, bottom, cols);
  } else {
    const int list_width = std::min(24, cols / 3);
    draw_cases(top, bottom, list_width);
    for (int r = top; r < bottom; ++r) ::mvaddch(r, list_width, ACS_VLINE);
    draw_pane(top, bottom, list_width + 2, cols - list_width - 2);
  }
  if (message_alert_) ::attron(A_BOLD);
  put(rows - 2, 0, cli::printable(message_), cols);
  if (message_alert_) ::attroff(A_BOLD);
  // A compose line longer than the screen scrolls to keep the cursor in view.
  // The view moves only when the cursor would leave it, so text after the
  // cursor stays in sight while editing mid-line.
  const int at_cursor = cursor_ < compose_.size() ? cell_width(compose_[cursor_]) : 1;
  const int room = std::max(1, cols - 2 - at_cursor);  // "> ", then up to the cursor's cell
  if (text_width(compose_) + 1 <= cols - 2) compose_start_ = 0;
  compose_start_ = std::min(compose_start_, cursor_);
  int before_cursor = text_width(compose_.substr(compose_start_, cursor_ - compose_start_));
  while (before_cursor > room && compose_start_ < cursor_)
    before_cursor -= cell_width(compose_[compose_start_++]);
  put(rows - 1, 0, L"> " + compose_.substr(compose_start_), cols);
  ::move(rows - 1, std::min(cols - 1, 2 + before_cursor));
  ::refresh();
}

int Tui::run() {
  int idle_ticks = 0;
  for (;;) {
    draw();
    if (quit_) return 0;
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {session_ ? session_->event_fd() : -1, POLLIN, 0}};
    const int ready = ::poll(fds, 2, 1000);
    if (ready < 0 && errno != EINTR) return 1;
    // Keys: everything buffered (a paste, tmux send-keys) before drawing again.
    wint_t ch = 0;
    for (int r = ::get_wch(&ch); r != ERR; r = ::get_wch(&ch)) {
      key(r == KEY_CODE_YES, ch);
      if (quit_) break;
    }
    if (session_) {
      auto updates = session_->poll(std::chrono::milliseconds(0));
      if (!updates.is_ok()) {
        alert("Could not save your store: " + updates.status().to_string());
        continue;
      }
      for (const auto& u : *updates) handle(u);
      if (replaced_) return kExitReplaced;
    } else if (ready == 0 && ++idle_ticks % 5 == 0) {
      connect();
    }
  }
}

// Puts the terminal back on every way out of the full screen.
struct Screen {
  Screen() {
    ::initscr();
    ::raw();
    ::noecho();
    ::nonl();
    ::keypad(stdscr, TRUE);
    ::nodelay(stdscr, TRUE);
    ::set_escdelay(50);
  }
  ~Screen() { ::endwin(); }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
};

}  // namespace

namespace hearth::console {

int run_tui(const Options& options) {
  // The locale gives ncursesw and mbrtowc the terminal's encoding (UTF-8:
  // Spanish, Arabic, ... typed and shown as such).
  std::setlocale(LC_ALL, "");
  std::optional<Directory> directory;
  if (!load_directory_option(options, directory)) return 1;
  int exit_code = 0;
  cli::LineReader in;
  auto store = unlock_store(options, in, exit_code);
  if (!store) return exit_code;
  // Logging in checks the roster against the org root pinned in the store:
  // a wrong root, a rollback or a split view refuses the login, loudly,
  // before the full screen starts.
  Endpoint endpoint{options.server, options.ca_file};
  // Turned away for load: tried again with backoff, saying so.
  Result<std::unique_ptr<ResponderSession>> session = error(Code::kUnavailable, "not logged in");
  LoginRetry retry;
  retry.on_wait = [](std::chrono::milliseconds wait, const Status&) {
    std::fprintf(stderr, "hearth-console: %s\n", login_retry_text(wait).c_str());
    return true;
  };
  Status logged_in = with_login_retry(retry, [&] {
    session = ResponderSession::login(endpoint, *store);
    return session.status();
  });
  (void)logged_in;  // the same as session.status()
  if (!session.is_ok()) {
    std::fprintf(stderr,
                 "hearth-console: LOGIN REFUSED: %s\n"
                 "hearth-console: pinned org root fingerprint: %s\n",
                 cli::printable(explain(session.status())).c_str(),
                 crypto::fingerprint(store->state().org_root).c_str());
    return login_exit_code(session.status());
  }
  Tui tui(*store, std::move(endpoint), std::move(session).value(), std::move(directory));
  int code = 0;
  {
    Screen screen;
    code = tui.run();
  }
  // Said once the full screen is gone, so it stays on the terminal.
  if (code == kExitReplaced) {
    std::fprintf(stderr, "hearth-console: %s\n", kReplacedText);
    if (const std::string line = tui.unsent(); !line.empty())
      std::fprintf(stderr, "hearth-console: not sent: %s\n", cli::printable(line).c_str());
  }
  return code;
}

}  // namespace hearth::console
