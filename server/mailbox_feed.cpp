#include "server/mailbox_feed.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "protocol/codec.h"
#include "server/storage_jobs.h"
#include "server/write_queue.h"

namespace hearth::server {

namespace asio = boost::asio;
using storage::CaseId;
using storage::MailboxId;
using storage::Stores;

MailboxFeed::MailboxFeed(Services& services, asio::any_io_executor strand, FeedOutlet& outlet)
    : services_(services), strand_(std::move(strand)), outlet_(outlet) {}

std::string MailboxFeed::envelope_frame(const CaseId& case_id, std::int64_t seq,
                                        bool responder_side, const Bytes& body,
                                        UnixSeconds sent_minute) {
  protocol::EnvelopeEvent e;
  e.case_id.assign(case_id.bytes.begin(), case_id.bytes.end());
  e.seq = seq;
  // Every mailbox a responder has for a case starts with the intake copy; seq
  // numbers are never reused, so seq 1 there is always it.
  e.kind = responder_side && seq == 1 ? protocol::EnvelopeKind::kIntake
                                      : protocol::EnvelopeKind::kMessage;
  e.body = body;
  e.sent_minute = sent_minute;
  return protocol::encode(protocol::EventFrame{std::move(e)});
}

std::optional<std::int64_t> MailboxFeed::delivered(const MailboxId& mailbox) const {
  auto it = cursors_.find(mailbox);
  if (it == cursors_.end()) return std::nullopt;
  return it->second.delivered;
}

bool MailboxFeed::behind(const MailboxId& mailbox) const {
  auto it = cursors_.find(mailbox);
  return it != cursors_.end() && it->second.behind;
}

void MailboxFeed::watch(const MailboxId& mailbox, const CaseId& case_id, bool responder_side,
                        bool fetch_backlog) {
  auto [it, inserted] = cursors_.try_emplace(mailbox);
  if (inserted) {
    it->second.case_id = case_id;
    it->second.responder_side = responder_side;
  }
  if (fetch_backlog) start_fetch(mailbox);
}

void MailboxFeed::unwatch_case(const CaseId& case_id) {
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    it = it->second.case_id == case_id ? cursors_.erase(it) : std::next(it);
  }
}

void MailboxFeed::on_delivery(const Delivery& d) {
  if (outlet_.closing()) return;
  watch(d.mailbox, d.case_id, d.responder_side, /*fetch_backlog=*/false);
  Cursor& c = cursors_.at(d.mailbox);
  if (c.fetching) {
    c.dirty = true;  // the page being fetched may or may not hold it: fetch again
    return;
  }
  if (d.seq <= c.delivered) return;  // already queued from the backlog
  if (!c.behind && d.seq == c.delivered + 1) {
    std::string frame = envelope_frame(d.case_id, d.seq, d.responder_side, d.body, d.sent_minute);
    if (outlet_.envelope_room(frame.size())) {
      c.delivered = d.seq;
      outlet_.queue_envelope(std::move(frame));
      return;
    }
    // No room: it is in storage already; the pump fetches it when there is.
    services_.metrics.envelopes_deferred.fetch_add(1);
  }
  start_fetch(d.mailbox);  // a gap, or behind already: read what is missing, in order
}

void MailboxFeed::start_fetch(const MailboxId& mailbox) {
  auto it = cursors_.find(mailbox);
  if (it == cursors_.end()) return;
  it->second.behind = true;
  if (it->second.fetching) it->second.dirty = true;
  if (pump_running_ || outlet_.closing()) return;
  pump_running_ = true;
  asio::co_spawn(strand_, pump(), asio::detached);
}

asio::awaitable<void> MailboxFeed::pump() {
  auto alive = outlet_.keep_alive();
  for (;;) {
    auto behind = [](const auto& entry) { return entry.second.behind; };
    if (outlet_.closing() || std::none_of(cursors_.begin(), cursors_.end(), behind)) break;
    co_await outlet_.wait_for_envelope_room();
    if (outlet_.closing()) break;
    // Round robin: the first behind mailbox after the last one served, so
    // every mailbox gets a page in turn, however deep another's backlog.
    auto it = last_pumped_ ? cursors_.upper_bound(*last_pumped_) : cursors_.begin();
    it = std::find_if(it, cursors_.end(), behind);
    if (it == cursors_.end()) it = std::find_if(cursors_.begin(), cursors_.end(), behind);
    if (it == cursors_.end()) continue;
    const MailboxId mailbox = it->first;
    last_pumped_ = mailbox;
    it->second.fetching = true;
    it->second.dirty = false;
    std::int64_t after = it->second.delivered;
    std::size_t limit = outlet_.envelope_page();
    auto fetch = [mailbox, after, limit](Stores& s) {
      return s.envelopes.fetch(mailbox, after, limit);
    };
    auto page = co_await read_job(services_, fetch);
    it = cursors_.find(mailbox);
    if (outlet_.closing()) break;
    if (it == cursors_.end()) continue;  // unwatched meanwhile
    Cursor& c = it->second;
    c.fetching = false;
    if (!page.is_ok()) {
      // Not retried in a loop: the next live envelope finds the gap.
      log::logger().warn("backlog_fetch_failed", {{"status", page.status()}});
      c.behind = false;
      continue;
    }
    bool all_queued = true;
    for (const auto& env : *page) {
      if (env.seq <= c.delivered) continue;
      std::string frame =
          envelope_frame(c.case_id, env.seq, c.responder_side, env.ciphertext, env.created_minute);
      if (!outlet_.envelope_room(frame.size())) {
        all_queued = false;  // live pushes took the room meanwhile: fetched again later
        break;
      }
      c.delivered = env.seq;
      outlet_.queue_envelope(std::move(frame));
    }
    if (all_queued && page->size() < limit && !c.dirty) c.behind = false;
  }
  pump_running_ = false;
}

}  // namespace hearth::server
