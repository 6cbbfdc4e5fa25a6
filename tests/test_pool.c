/*
 * test_pool.c: the thread pool of src/core/pool.c (hw_parallel_range). Every index of
 * [0, n) is visited exactly once, whatever n, chunk and thread count, over thousands
 * of jobs; n = 0; a job that calls back in; two threads submitting jobs at once; sizes
 * near INT_MAX; and the workers really take chunks.
 *
 * Visits are counted with plain (not atomic) increments on purpose: under
 * ThreadSanitizer (tests/pool_tsan_test.sh) a chunk run twice, or a result read
 * before the pool's hand-back orders it, is reported as a data race.
 */
#include "check.h"
#include "internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t state;
} rng_t;
static uint32_t next_u32(rng_t *r) { /* xorshift64* */
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return (uint32_t)((r->state * 0x2545F4914F6CDD1Dull) >> 32);
}

/* A job over [0, n): visits[i] counts the calls that covered i; `work` iterations of
 * busy work per index give the workers time to join in. */
typedef struct {
    unsigned char *visits;
    int n, work;
    _Atomic int bad_range;
} visit_job;

static pthread_t main_thread;
static _Atomic long chunks_by_workers; /* chunks run on a thread other than main's */

static void visit(void *arg, int begin, int end) {
    visit_job *j = arg;
    if (!pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&chunks_by_workers, 1);
    if (begin < 0 || end > j->n || begin > end) {
        atomic_store(&j->bad_range, 1);
        return;
    }
    for (int i = begin; i < end; i++) {
        for (volatile int w = 0; w < j->work; w++) {
        }
        j->visits[i]++;
    }
}

/* Run one job; returns how many indices were not visited exactly once (or -1 on a
 * range outside [0, n)). */
static int run_job_work(unsigned char *visits, int n, int chunk, int work) {
    visit_job j = {visits, n, work, 0};
    memset(visits, 0, (size_t)n);
    hw_parallel_range(visit, &j, n, chunk);
    if (j.bad_range) return -1;
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += visits[i] != 1;
    return wrong;
}
static int run_job(unsigned char *visits, int n, int chunk) {
    return run_job_work(visits, n, chunk, 0);
}

#define MAX_N 5000

static void every_index_once_random_jobs(void) {
    static unsigned char visits[MAX_N];
    rng_t r = {0x9E3779B97F4A7C15ull};
    int bad = 0, jobs = 4000;
    long before = atomic_load(&chunks_by_workers);
    for (int k = 0; k < jobs; k++) {
        if (k % 7 == 0) hw_set_threads(1 + (int)(next_u32(&r) % 3)); /* 1, 2 or 3 */
        int n = (int)(next_u32(&r) % (MAX_N + 1));
        int chunk = 1 + (int)(next_u32(&r) % (k % 2 ? 16 : 600));
        int wrong = run_job_work(visits, n, chunk, k % 3 == 0 ? 20 : 0);
        if (wrong && bad++ < 5)
            fprintf(stderr, "  job %d: n %d chunk %d threads %d: %d indices wrong\n", k, n, chunk,
                    hw_get_threads(), wrong);
    }
    CHECK(bad == 0, "%d of %d jobs visited some index not exactly once", bad, jobs);
    fprintf(stderr, "  %ld chunks ran on a worker\n", atomic_load(&chunks_by_workers) - before);
    hw_set_threads(0);
}

/* n = 0: nothing is visited, and the call returns (also with one element per chunk). */
static void empty_job(void) {
    unsigned char v[1];
    for (int t = 1; t <= 2; t++) {
        hw_set_threads(t);
        for (int chunk = 1; chunk <= 3; chunk++) {
            visit_job j = {v, 0, 0, 0};
            hw_parallel_range(visit, &j, 0, chunk);
            CHECK(!j.bad_range, "threads %d chunk %d: a range outside [0, 0)", t, chunk);
        }
    }
    hw_set_threads(0);
}

/* A job whose chunks run jobs of their own (another caller is busy: they run alone). */
typedef struct {
    unsigned char *visits; /* (outer n, inner n) */
    int inner_n, wrong;
    _Atomic int wrong_total;
} nested_job;

static void nested_outer(void *arg, int begin, int end) {
    nested_job *j = arg;
    for (int i = begin; i < end; i++) {
        int wrong = run_job(j->visits + (size_t)i * j->inner_n, j->inner_n, 3);
        atomic_fetch_add(&j->wrong_total, wrong ? 1 : 0);
    }
}

static void nested_jobs(void) {
    enum { OUTER = 64, INNER = 100 };
    static unsigned char v[OUTER * INNER];
    for (int t = 1; t <= 2; t++) {
        hw_set_threads(t);
        nested_job j = {v, INNER, 0, 0};
        hw_parallel_range(nested_outer, &j, OUTER, 4);
        CHECK(atomic_load(&j.wrong_total) == 0, "threads %d: %d inner jobs wrong", t,
              atomic_load(&j.wrong_total));
    }
    hw_set_threads(0);
}

/* Two application threads submitting jobs at the same time (two contexts in two
 * threads): one owns the pool, the other runs its job alone; all are right. */
typedef struct {
    uint64_t seed;
    int bad;
} submitter;

static void *submit_jobs(void *p) {
    submitter *s = p;
    rng_t r = {s->seed};
    unsigned char *visits = malloc(MAX_N);
    for (int k = 0; k < 1500; k++) {
        int n = (int)(next_u32(&r) % (MAX_N + 1)), chunk = 1 + (int)(next_u32(&r) % 200);
        s->bad += run_job(visits, n, chunk) != 0;
    }
    free(visits);
    return NULL;
}

static void two_submitting_threads(void) {
    hw_set_threads(2);
    submitter s[2] = {{0x1234567ull, 0}, {0x7654321ull, 0}};
    pthread_t t[2];
    int started = 0;
    for (int i = 0; i < 2; i++) started += pthread_create(&t[i], NULL, submit_jobs, &s[i]) == 0;
    CHECK(started == 2, "pthread_create failed");
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
    CHECK(s[0].bad == 0 && s[1].bad == 0, "wrong jobs: %d and %d", s[0].bad, s[1].bad);
    hw_set_threads(0);
}

/* Sizes near INT_MAX: chunk ranges tile [0, n) without int overflow (UBSan would
 * report one; a wrapped chunk count would lose the job or hang). Ranges are recorded,
 * not visited. */
typedef struct {
    int n, count;
    int begin[8], end[8];
    pthread_mutex_t lock;
} tile_job;

static void record(void *arg, int begin, int end) {
    tile_job *j = arg;
    pthread_mutex_lock(&j->lock);
    if (j->count < 8) j->begin[j->count] = begin, j->end[j->count] = end;
    j->count++;
    pthread_mutex_unlock(&j->lock);
}

static void huge_ranges_tile(void) {
    static const int N[] = {INT_MAX, INT_MAX - 1, INT_MAX, 2000000000};
    static const int CH[] = {INT_MAX / 2 + 1, INT_MAX / 3, INT_MAX / 4 + 7, 1000000000};
    hw_set_threads(2);
    for (int c = 0; c < 4; c++) {
        tile_job j = {.n = N[c], .lock = PTHREAD_MUTEX_INITIALIZER};
        hw_parallel_range(record, &j, N[c], CH[c]);
        int ok = j.count >= 1 && j.count <= 8;
        /* Sort by begin, then the ranges must be [0, e0), [e0, e1), ..., [.., n). */
        for (int a = 0; ok && a < j.count; a++)
            for (int b = a + 1; b < j.count; b++)
                if (j.begin[b] < j.begin[a]) {
                    int t = j.begin[a]; j.begin[a] = j.begin[b]; j.begin[b] = t;
                    t = j.end[a]; j.end[a] = j.end[b]; j.end[b] = t;
                }
        long at = 0;
        for (int a = 0; ok && a < j.count; a++) {
            ok = j.begin[a] == at && j.end[a] > j.begin[a];
            at = j.end[a];
        }
        CHECK(ok && at == N[c], "n %d chunk %d: %d ranges do not tile [0, n)", N[c], CH[c],
              j.count);
    }
    hw_set_threads(0);
}

/* With 2 threads the second one really takes chunks of long jobs (a pool that ran
 * everything on the caller would pass every other case). */
typedef struct {
    pthread_t caller;
    _Atomic int by_caller, by_other;
} who_job;

static void spin_us(int us) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static void who(void *arg, int begin, int end) {
    who_job *j = arg;
    spin_us(20 * (end - begin));
    atomic_fetch_add(pthread_equal(pthread_self(), j->caller) ? &j->by_caller : &j->by_other,
                     1);
}

static void workers_take_chunks(void) {
    hw_set_threads(2);
    int other = 0, total = 0;
    for (int k = 0; k < 50 && other < 10; k++) {
        who_job j = {pthread_self(), 0, 0};
        hw_parallel_range(who, &j, 64, 1); /* 64 chunks of 20 us */
        other += atomic_load(&j.by_other);
        total += atomic_load(&j.by_caller) + atomic_load(&j.by_other);
    }
    CHECK(other > 0, "the worker ran none of %d chunks", total);
    hw_set_threads(0);
}

int main(void) {
    alarm(120); /* a pool that loses a chunk makes its caller wait forever: end as a crash */
    main_thread = pthread_self();
    RUN(every_index_once_random_jobs);
    RUN(empty_job);
    RUN(nested_jobs);
    RUN(two_submitting_threads);
    RUN(huge_ranges_tile);
    RUN(workers_take_chunks);
    CHECK_DONE();
}
