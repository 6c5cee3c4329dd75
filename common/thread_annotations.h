// Clang thread-safety annotations (-Wthread-safety), and a mutex that
// carries them.
//
// GUARDED_BY(mu) on a member says it is read and written only with `mu`
// held; REQUIRES(mu) on a method, that callers hold it; EXCLUDES(mu), that
// they must not (it locks `mu` itself). Clang checks these at compile time;
// on other compilers the macros expand to nothing. std::mutex carries no
// annotations in libstdc++, so annotated code locks a hearth::Mutex with a
// hearth::MutexLock.
//
// Thread safety: Mutex is a std::mutex.
#pragma once

#include <mutex>

#if defined(__clang__)
#define HEARTH_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HEARTH_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) HEARTH_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY HEARTH_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) HEARTH_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) HEARTH_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) HEARTH_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) HEARTH_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) HEARTH_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) HEARTH_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS HEARTH_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace hearth {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` for its scope (std::lock_guard, annotated).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace hearth
