// Awaitable access to the StorageThread from Asio coroutines.
//
//   auto job = [..](storage::Stores& s) -> Result<T> { ... };
//   Result<T> r = co_await storage_write(thread, job, bytes);
//
// The job runs on the storage thread; the coroutine resumes on its own
// executor (for a session, its strand), never on the storage thread, so no
// SQLite work ever blocks an I/O thread and no session state is touched from
// the storage thread. `bytes` is the payload the job's closure holds (an
// envelope body, a vault blob): the StorageThread counts it against its
// queue budget.
//
// Thread safety: as StorageThread; call from any coroutine.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including it.
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <type_traits>
#include <utility>

#include "storage/storage_thread.h"

namespace hearth::server {

namespace detail {

template <typename R, typename Fn>
auto storage_job(storage::StorageThread& thread, bool write, Fn& fn, std::size_t bytes) {
  auto initiation = [&thread, write, bytes](auto handler, Fn job) {
    using Handler = std::decay_t<decltype(handler)>;
    auto executor = boost::asio::get_associated_executor(handler);
    // The StorageThread's Done is a std::function and so must be copyable;
    // the completion handler is move-only, so it travels in a shared_ptr.
    auto shared = std::make_shared<Handler>(std::move(handler));
    auto done = [shared, executor](R result) {
      boost::asio::post(executor, [shared, result = std::move(result)]() mutable {
        (*shared)(std::move(result));
      });
    };
    if (write) {
      thread.write(std::move(job), std::move(done), bytes);
    } else {
      thread.read(std::move(job), std::move(done), bytes);
    }
  };
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(R)>(
      std::move(initiation), boost::asio::use_awaitable, std::move(fn));
}

}  // namespace detail

// Runs `fn` (Stores& -> Status or Result<T>) as a write job; resumes with its
// result once the batch committed (or failed). `fn` is moved from. It is
// taken by reference so that no temporary with a destructor is built inside
// the caller's co_await expression: GCC 12 may destroy such temporaries twice.
template <typename Fn>
auto storage_write(storage::StorageThread& thread, Fn& fn, std::size_t bytes = 0) {
  using R = std::invoke_result_t<Fn&, storage::Stores&>;
  return detail::storage_job<R>(thread, /*write=*/true, fn, bytes);
}

// Runs `fn` as a read job (no transaction kept); as storage_write otherwise.
template <typename Fn>
auto storage_read(storage::StorageThread& thread, Fn& fn, std::size_t bytes = 0) {
  using R = std::invoke_result_t<Fn&, storage::Stores&>;
  return detail::storage_job<R>(thread, /*write=*/false, fn, bytes);
}

}  // namespace hearth::server
