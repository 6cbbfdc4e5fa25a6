/*
 * pool.c: a small thread pool for the row loops of the decode path, built so that
 * the calling thread never waits for a sleeping thread to wake up.
 *
 * Why not an OpenMP loop: with passive waits (the house rule: machines are shared)
 * every parallel region wakes a sleeping thread and, at its closing barrier, often
 * puts the caller to sleep and wakes it again. On these VMs a wake-up costs tens of
 * microseconds, and one decode step runs ~85 such loops of 0.1-0.4 ms each: a third
 * of the time went to waiting (measured: 44 tok/s passive vs 61 spinning).
 *
 * Here the caller publishes a job and starts on it at once, taking chunks of rows
 * from a shared counter; woken workers take chunks too, whenever they arrive. The
 * caller then waits only for chunks already taken, never for a worker to arrive, so
 * a late or descheduled worker costs nothing. Idle workers sleep on a futex at once
 * (spinning them 50 us bought 10% on an idle machine and lost 10% with a busy core).
 * Which thread computes a chunk changes nothing in the result: each output is
 * computed whole by one thread in a fixed order.
 *
 * Measured on the stories110M-shape benchmark, 2 threads: decode 44 -> 57 tok/s on
 * an idle machine, 31 -> 37 tok/s with a busy loop on one core (1 thread: 33).
 */
#include "internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 63

static struct {
    pthread_mutex_t lock;         /* guards starting workers */
    int n_workers;                /* started so far */
    /* The job, published seqlock style: seq is odd while the caller writes it. */
    _Atomic uint32_t seq;         /* futex word of sleeping workers */
    _Atomic(hw_range_fn) fn;
    _Atomic(void *) arg;
    _Atomic int n, chunk, workers; /* items, items per chunk, workers invited */
    _Atomic uint64_t next;        /* (seq << 32) | next chunk index */
    _Atomic uint32_t done;        /* chunks finished in the current job; futex word */
    _Atomic int caller_sleeps;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Chunks of `chunk` items in [0, n), n > 0, without overflow near INT_MAX. */
static int chunk_count(int n, int chunk) { return (n - 1) / chunk + 1; }

/* Take and run chunks of job `seq` until none are left or a newer job replaced it.
 * (Job numbers wrap after 2^31 jobs; at worst a worker then misses one job, and the
 * caller does every chunk nobody took.) */
static void run_chunks(uint32_t seq, hw_range_fn fn, void *arg, int n, int chunk) {
    const int n_chunks = chunk_count(n, chunk);
    uint64_t cur = atomic_load(&P.next);
    for (;;) {
        if ((uint32_t)(cur >> 32) != seq || (int)(uint32_t)cur >= n_chunks) return;
        if (!atomic_compare_exchange_weak(&P.next, &cur, cur + 1)) continue;
        int c = (int)(uint32_t)cur, begin = c * chunk, end = chunk < n - begin ? begin + chunk : n;
        fn(arg, begin, end);
        if ((int)atomic_fetch_add(&P.done, 1) + 1 == n_chunks && atomic_load(&P.caller_sleeps))
            futex_wake(&P.done);
        cur = atomic_load(&P.next);
    }
}

static void *worker_main(void *p) {
    const int id = (int)(intptr_t)p;
    uint32_t seen = 0;
    for (;;) {
        uint32_t s = atomic_load(&P.seq);
        if (s == seen || (s & 1)) { /* nothing new, or a job being written */
            futex_wait(&P.seq, s);
            continue;
        }
        hw_range_fn fn = atomic_load(&P.fn);
        void *arg = atomic_load(&P.arg);
        int n = atomic_load(&P.n), chunk = atomic_load(&P.chunk), invited = atomic_load(&P.workers);
        if (atomic_load(&P.seq) != s) continue; /* torn read: a newer job came; look again */
        seen = s;
        if (id < invited) run_chunks(s, fn, arg, n, chunk);
    }
    return NULL;
}

/* Start workers up to `want`; returns how many are running. */
static int start_workers(int want) {
    if (want > MAX_WORKERS) want = MAX_WORKERS;
    pthread_mutex_lock(&P.lock);
    while (P.n_workers < want) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&t, &a, worker_main, (void *)(intptr_t)P.n_workers) == 0;
        pthread_attr_destroy(&a);
        if (!ok) break;
        P.n_workers++;
    }
    int n = P.n_workers;
    pthread_mutex_unlock(&P.lock);
    return n;
}

void hw_parallel_range(hw_range_fn fn, void *arg, int n, int chunk) {
    static pthread_mutex_t one_caller = PTHREAD_MUTEX_INITIALIZER;
    if (chunk < 1) chunk = 1;
    int workers = hw_get_threads() - 1;
    if (workers > 0 && n > chunk) workers = start_workers(workers);
    if (workers <= 0 || n <= chunk) {
        fn(arg, 0, n);
        return;
    }
    /* One job at a time: a second caller (another thread, or a job calling back in)
     * does its work alone rather than wait. */
    if (pthread_mutex_trylock(&one_caller) != 0) {
        fn(arg, 0, n);
        return;
    }
    uint32_t s = atomic_load(&P.seq) + 1;       /* odd: writing */
    atomic_store(&P.seq, s);
    atomic_store(&P.fn, fn);
    atomic_store(&P.arg, arg);
    atomic_store(&P.n, n);
    atomic_store(&P.chunk, chunk);
    atomic_store(&P.workers, workers);
    atomic_store(&P.done, 0);
    s++;                                         /* even: published */
    atomic_store(&P.next, (uint64_t)s << 32);
    atomic_store(&P.seq, s);
    futex_wake(&P.seq);
    run_chunks(s, fn, arg, n, chunk);
    /* Wait for the chunks workers took (microseconds): spin up to 50 us, then sleep. */
    const uint32_t n_chunks = (uint32_t)chunk_count(n, chunk);
    long t0 = 0;
    for (int i = 0; atomic_load(&P.done) < n_chunks; i++) {
        if (i % 64 == 0 && (t0 ? now_ns() - t0 > 50000 : (t0 = now_ns(), 0))) {
            atomic_store(&P.caller_sleeps, 1);
            uint32_t d = atomic_load(&P.done);
            if (d < n_chunks) futex_wait(&P.done, d);
            atomic_store(&P.caller_sleeps, 0);
        }
        cpu_relax();
    }
    pthread_mutex_unlock(&one_caller);
}
