#include "clients/console/console_core.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/clock.h"
#include "crypto/keys.h"

namespace hearth::console {

using client::protocol_error;

int CaseNumbers::number_of(ByteView case_id) {
  Bytes key(case_id.begin(), case_id.end());
  auto it = numbers_.find(key);
  if (it != numbers_.end()) return it->second;
  numbers_.emplace(key, next_);
  ids_.emplace(next_, key);
  return next_++;
}

const Bytes* CaseNumbers::id_of(int number) const {
  auto it = ids_.find(number);
  return it == ids_.end() ? nullptr : &it->second;
}

std::string explain(const Status& status) {
  auto code = protocol_error(status);
  if (code == protocol::ErrorCode::kLimitExceeded)
    return "You are at capacity. Close a case first (/close).";
  if (code == protocol::ErrorCode::kRateLimited)
    return "The server is busy (too many failed logins right now); trying again.";
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

int login_exit_code(const Status& status) {
  auto code = protocol_error(status);
  return code == protocol::ErrorCode::kRevoked || code == protocol::ErrorCode::kNotOnRoster ||
                 code == protocol::ErrorCode::kCertificateExpired
             ? 3
             : 1;
}

std::string wait_text(std::int64_t seconds) {
  if (seconds < 60) return "under a minute";
  if (seconds < 7200) return std::to_string(seconds / 60) + " min";
  return std::to_string(seconds / 3600) + " h " + std::to_string(seconds % 3600 / 60) + " min";
}

std::string join(const std::vector<std::string>& items, const std::string& none) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? none : out;
}

std::string outcome_list(const std::vector<std::string>& outcomes) {
  return join(outcomes, "(none listed by the server)");
}

std::vector<std::string> routing_lines(const protocol::TakenCase& t) {
  std::vector<std::string> needs;
  for (auto need : t.envelope.needs) needs.emplace_back(protocol::need_name(need));
  std::vector<std::string> lines;
  lines.push_back("Queue: " + t.queue + ". Class: " + t.priority_class + ". Waited " +
                  wait_text(t.waited_s) + ".");
  lines.push_back("Needs: " + join(needs) +
                  ". Urgency: " + std::string(protocol::urgency_name(t.envelope.urgency)) + ".");
  lines.push_back("Languages: " + join(t.envelope.languages) +
                  ". Mode: " + std::string(protocol::mode_name(t.envelope.mode)) +
                  (t.envelope.region ? ". Region: " + *t.envelope.region : std::string()) + ".");
  if (t.interpreter)
    lines.emplace_back("Interpreter needed: you share none of the survivor's languages.");
  return lines;
}

std::string routing_summary(const protocol::TakenCase& t) {
  return t.queue + " " + t.priority_class;
}

std::map<Bytes, protocol::TakenCase> stored_routing(const client::ResponderState& state) {
  std::map<Bytes, protocol::TakenCase> out;
  for (const auto& c : state.cases) {
    if (!c.routing) continue;
    const client::CaseRouting& r = *c.routing;
    out[c.case_id] = protocol::TakenCase{c.case_id,  c.queue,       r.priority_class,
                                         r.envelope, r.interpreter, r.waited_s};
  }
  return out;
}

std::vector<std::string> first_message_lines(const client::Plaintext& first) {
  using client::Author;
  if (first.kind != static_cast<std::uint8_t>(client::PlaintextKind::kHandoffConsent))
    return {"survivor: " + cli::printable(first.payload)};
  auto handoff = client::decode_handoff(first);
  if (!handoff.is_ok()) return {"Handed over from another team (unreadable note)."};
  switch (handoff->share) {
    case protocol::HandoffShare::kNewOnly:
      return {"Handed over from another team. The survivor chose to share only new messages."};
    case protocol::HandoffShare::kSummary:
      return {"Handed over from another team. The survivor's summary: " +
              cli::printable(handoff->summary)};
    case protocol::HandoffShare::kHistory:
      break;
  }
  std::vector<std::string> lines{"Handed over from another team. The conversation so far (" +
                                 std::to_string(handoff->history.size()) + " messages):"};
  for (const auto& e : handoff->history)
    lines.push_back("  [" + cli::clock_time(e.minute) + "] " +
                    (e.author == Author::kSurvivor ? "survivor: " : "earlier responder: ") +
                    cli::printable(e.plaintext.payload));
  lines.emplace_back("  (end of the earlier conversation)");
  return lines;
}

std::string handoff_refusal(const Status& status, const std::string& queue) {
  if (protocol_error(status) == protocol::ErrorCode::kBadField)
    return "There is no other queue called " + queue + ".";
  if (protocol_error(status) == protocol::ErrorCode::kNoResponder)
    return "Nobody else can take cases in " + queue + " yet; the survivor was not asked.";
  return explain(status);
}

std::string close_refusal(const Status& status, const std::string& outcome,
                          const std::vector<std::string>& outcomes) {
  if (protocol_error(status) == protocol::ErrorCode::kBadField)
    return "Not an outcome: " + outcome + ". Outcomes: " + outcome_list(outcomes);
  return explain(status);
}

std::string closed_text(const std::string& label, protocol::CloseReason reason) {
  if (reason == protocol::CloseReason::kHandedOff)
    return label +
           ": the survivor accepted the handoff. The case has moved to the other team and is "
           "gone from this console.";
  if (reason == protocol::CloseReason::kDeleted)
    return label + " was deleted by the survivor. It is gone from this console.";
  return label + " was closed. It is gone from this console.";
}

std::string waiting_text(std::int64_t waiting, std::int64_t urgent) {
  if (waiting == 0) return "Nobody is waiting for you.";
  return std::to_string(waiting) + " waiting (" + std::to_string(urgent) + " urgent)";
}

Result<DismissCommand> parse_dismiss(const std::vector<std::string>& args, UnixSeconds now) {
  DismissCommand out;
  std::vector<std::string> what = {"waiting cases nobody took"};
  const auto usage = [] { return error(Code::kInvalidArgument, std::string(kDismissUsage)); };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "yes") {
      out.confirmed = true;
    } else if (a == "away") {
      out.request.away_only = true;
      what.emplace_back("whose survivor is not connected");
    } else if (a == "queue" && i + 1 < args.size()) {
      out.request.queue = args[++i];
      what.push_back("in the queue " + *out.request.queue);
    } else if (a == "last" && i + 1 < args.size()) {
      const std::string& m = args[++i];
      if (m.empty() || m.size() > 6 ||
          !std::all_of(m.begin(), m.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return usage();
      const std::int64_t minutes = std::stoll(m);
      if (minutes < 1) return usage();
      out.request.arrived_from = std::max<std::int64_t>(0, now - minutes * 60);
      what.push_back("that arrived in the last " + m + " min");
    } else {
      return usage();
    }
  }
  for (std::size_t i = 0; i < what.size(); ++i) out.what += (i == 0 ? "" : ", ") + what[i];
  return out;
}

std::string dismiss_confirm_text(const DismissCommand& command, const std::string& retype) {
  return "This deletes the " + command.what +
         " (their messages too; survivors can ask again). To do it, type: " + retype + " yes";
}

std::string dismiss_result_text(const protocol::DismissWaitingReply& reply) {
  std::string out = "Dismissed " + std::to_string(reply.dismissed) + " waiting case" +
                    (reply.dismissed == 1 ? "" : "s") + "; an audit entry records it.";
  if (reply.remaining > 0)
    out += " " + std::to_string(reply.remaining) + " more match: run it again.";
  return out;
}

std::vector<std::string> health_lines(const protocol::QueueHealthReply& reply) {
  if (reply.queues.empty()) return {"No queues."};
  std::vector<std::string> lines;
  char line[160];
  std::snprintf(line, sizeof line, "%-22s %-16s %7s %12s %10s", "queue", "class", "waiting",
                "longest", "target");
  lines.emplace_back(line);
  for (const auto& q : reply.queues) {
    for (const auto& c : q.classes) {
      std::snprintf(line, sizeof line, "%-22s %-16s %7lld %12s %10s", q.queue.c_str(),
                    c.priority_class.c_str(), static_cast<long long>(c.waiting),
                    wait_text(c.longest_wait_s).c_str(), wait_text(c.target_s).c_str());
      lines.emplace_back(line);
    }
    std::snprintf(line, sizeof line,
                  "%-22s responders: %lld available, %lld away; load %lld of %lld", q.queue.c_str(),
                  static_cast<long long>(q.responders_available),
                  static_cast<long long>(q.responders_away), static_cast<long long>(q.load),
                  static_cast<long long>(q.capacity));
    lines.emplace_back(line);
  }
  return lines;
}

std::vector<std::string> login_lines(const client::LoginInfo& info,
                                     const crypto::SigningPublicKey& org_root) {
  return {
      "Logged in as " + info.responder_id + " (queues: " + join(info.queues) + ").",
      "Roster epoch " + std::to_string(info.roster_epoch) +
          ", verified against your pinned org "
          "root; it expires in " +
          std::to_string(info.roster_expires_in_hours) + " hours.",
      "Org root fingerprint: " + crypto::fingerprint(org_root),
  };
}

Status add_private_note(client::ResponderStore& store, ByteView case_id, std::string text) {
  client::ResponderCase* c = store.state().find(case_id);
  if (c == nullptr) return error(Code::kNotFound, "no such case");
  HEARTH_TRY(client::add_note(*c, to_minute(SystemClock().now()), std::move(text)));
  Status saved = store.save();
  if (!saved.is_ok()) c->notes.pop_back();
  return saved;
}

std::optional<std::string> read_passphrase(const std::string& file, cli::LineReader& in,
                                           std::string_view prompt) {
  if (!file.empty()) {
    std::ifstream f(file);
    std::string line;
    if (!f || !std::getline(f, line)) return std::nullopt;
    return line;
  }
  if (const char* env = std::getenv("HEARTH_PASSPHRASE")) return std::string(env);
  return cli::read_hidden(in, prompt);
}

bool load_directory_option(const Options& options, std::optional<client::Directory>& out) {
  if (options.directory_file.empty()) return true;
  auto loaded = client::load_directory(options.directory_file);
  if (!loaded.is_ok()) {
    std::fprintf(stderr,
                 "hearth-console: the directory file %s: %s\n(check it with `hearth-admin "
                 "directory validate FILE`, or start without --directory)\n",
                 options.directory_file.c_str(), loaded.status().message().c_str());
    return false;
  }
  out = std::move(loaded).value();
  return true;
}

namespace {

// "3" → 3 when it is a number from 1 to `count`; else 0.
std::size_t list_number(const std::string& s, std::size_t count) {
  if (s.empty() || s.size() > 6) return 0;
  for (char c : s)
    if (c < '0' || c > '9') return 0;
  const std::size_t n = std::stoul(s);
  return n >= 1 && n <= count ? n : 0;
}

}  // namespace

std::vector<std::string> canned_lines(const client::Directory& directory) {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < directory.canned.size(); ++i) {
    const auto& c = directory.canned[i];
    lines.push_back(std::to_string(i + 1) + "  " + c.id + "  " + c.title +
                    (c.language ? " [" + *c.language + "]" : "") + ": " + c.text);
  }
  return lines;
}

const client::CannedResponse* find_canned(const client::Directory& directory,
                                          const std::string& id_or_number) {
  if (const auto* c = directory.find_canned(id_or_number)) return c;
  const std::size_t n = list_number(id_or_number, directory.canned.size());
  return n ? &directory.canned[n - 1] : nullptr;
}

std::vector<const client::ReferralCard*> referrals_for(const client::Directory& directory,
                                                       const protocol::RouteEnvelope* envelope,
                                                       bool all, std::string& why) {
  if (!all && envelope != nullptr) {
    why = "matching the case's needs, region and languages";
    return client::matching_referrals(directory, *envelope);
  }
  why = all ? "all cards" : "all cards (the case's routing fields are not known here)";
  std::vector<const client::ReferralCard*> cards;
  for (const auto& card : directory.referrals) cards.push_back(&card);
  return cards;
}

std::vector<std::string> referral_lines(const std::vector<const client::ReferralCard*>& cards) {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < cards.size(); ++i)
    lines.push_back(std::to_string(i + 1) + "  " + cards[i]->id + "  " +
                    client::render_referral(*cards[i]));
  return lines;
}

const client::ReferralCard* find_referral(const client::Directory& directory,
                                          const std::vector<const client::ReferralCard*>& listed,
                                          const std::string& id_or_number) {
  if (const auto* card = directory.find_referral(id_or_number)) return card;
  const std::size_t n = list_number(id_or_number, listed.size());
  return n ? listed[n - 1] : nullptr;
}

std::unique_ptr<client::ResponderStore> unlock_store(const Options& options, cli::LineReader& in,
                                                     int& exit_code) {
  auto passphrase = read_passphrase(options.passphrase_file, in);
  if (!passphrase) {
    std::fprintf(stderr, "hearth-console: no passphrase\n");
    exit_code = 2;
    return nullptr;
  }
  auto store = client::ResponderStore::open(options.data_dir, *passphrase);
  cli::wipe(*passphrase);
  if (!store.is_ok()) {
    std::fprintf(stderr, "hearth-console: cannot open %s: %s\n", options.data_dir.c_str(),
                 store.status().message().c_str());
    exit_code = 1;
    return nullptr;
  }
  return std::move(store).value();
}

}  // namespace hearth::console
