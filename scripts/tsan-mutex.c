// Tells ThreadSanitizer about Synchronization.Mutex's contended hand-over (scripts/sanitize.sh
// preloads it into the TSan test run). Mutex's fast paths are atomics inlined into our code,
// which TSan sees; its slow paths, out of line in libswiftSynchronization.so, lock and unlock
// with a priority-inheritance futex, so the kernel hands the lock from one thread to the next
// and TSan sees no synchronization: every access guarded by a contended Mutex would be reported
// as a race. These wrappers of the two slow paths add the acquire and release TSan misses and
// hide nothing else: an access made without the lock is still reported.
//
// The wrapped functions are Swift methods of _MutexHandle (self, its address, in the swiftself
// register): clang's swiftcall convention with a swift_context parameter calls them the same way.
// Outside a TSan process (the swift-test driver) __tsan_* are absent and the wrappers only forward.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"
#define SWIFT_SELF __attribute__((swift_context))

extern void __tsan_acquire(void *address) __attribute__((weak));
extern void __tsan_release(void *address) __attribute__((weak));

/// The next definition of `name` (libswiftSynchronization's); aborts when there is none.
static void *next(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "tsan-mutex: %s not found\n", name);
        abort();
    }
    return f;
}

__attribute__((swiftcall)) void lockSlow(uint32_t selfId, void *SWIFT_SELF handle) __asm__(LOCK_SLOW);
__attribute__((swiftcall)) void lockSlow(uint32_t selfId, void *SWIFT_SELF handle) {
    static __attribute__((swiftcall)) void (*real)(uint32_t, void *SWIFT_SELF);
    if (!real) real = next(LOCK_SLOW);
    real(selfId, handle);
    if (__tsan_acquire) __tsan_acquire(handle);
}

__attribute__((swiftcall)) bool tryLockSlow(void *SWIFT_SELF handle) __asm__(TRY_LOCK_SLOW);
__attribute__((swiftcall)) bool tryLockSlow(void *SWIFT_SELF handle) {
    static __attribute__((swiftcall)) bool (*real)(void *SWIFT_SELF);
    if (!real) real = next(TRY_LOCK_SLOW);
    bool locked = real(handle);
    if (locked && __tsan_acquire) __tsan_acquire(handle);
    return locked;
}

__attribute__((swiftcall)) void unlockSlow(void *SWIFT_SELF handle) __asm__(UNLOCK_SLOW);
__attribute__((swiftcall)) void unlockSlow(void *SWIFT_SELF handle) {
    static __attribute__((swiftcall)) void (*real)(void *SWIFT_SELF);
    if (!real) real = next(UNLOCK_SLOW);
    if (__tsan_release) __tsan_release(handle);
    real(handle);
}
