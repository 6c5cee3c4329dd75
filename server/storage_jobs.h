// Storage jobs from a session's coroutines, counted in
// metrics.storage_jobs_in_flight (the fuzzer and shutdown wait for it to
// reach zero). As storage_bridge.h otherwise.
//
// `fn` is taken by reference and moved from: GCC 12 mishandles temporaries
// with destructors inside a co_await expression (it may destroy them twice),
// so call sites name the job first and no temporary is built here.
//
// Thread safety: call from a coroutine on a session's strand.
#pragma once

#include "server/services.h"
#include "server/storage_bridge.h"

namespace hearth::server {

template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&, storage::Stores&>> write_job(
    Services& services, Fn& fn, std::size_t bytes = 0) {
  services.metrics.storage_jobs_in_flight.fetch_add(1);
  auto result = co_await storage_write(services.storage, fn, bytes);
  services.metrics.storage_jobs_in_flight.fetch_sub(1);
  co_return result;
}

template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&, storage::Stores&>> read_job(
    Services& services, Fn& fn, std::size_t bytes = 0) {
  services.metrics.storage_jobs_in_flight.fetch_add(1);
  auto result = co_await storage_read(services.storage, fn, bytes);
  services.metrics.storage_jobs_in_flight.fetch_sub(1);
  co_return result;
}

}  // namespace hearth::server
