/* rng.c: the one seeded random stream of the library (splitmix64) and the one argmax.
 * Task data, probes' random blocks and mask-test's random head sets all draw from it,
 * so a seed means the same thing everywhere. */
#include "internal.h"

uint64_t hw_rng_next(hw_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int hw_rng_int(hw_rng *r, int n) { return (int)(((hw_rng_next(r) >> 32) * (uint64_t)n) >> 32); }

double hw_rng_unit(hw_rng *r) { return (double)(hw_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

uint64_t hw_seed_mix(uint64_t a, uint64_t b, uint64_t c) {
    hw_rng r = {a};
    r.s ^= hw_rng_next(&r) + b;
    r.s ^= hw_rng_next(&r) + c;
    return hw_rng_next(&r);
}

int hw_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
