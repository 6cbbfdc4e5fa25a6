/* simd_inline.h: the lane sums the matrix-vector kernels share (simd.c's f32 kernels and
 * quant_kernels.c's fused ones), so that every kernel adds its 16 lanes in one tree and a
 * row's result depends only on its values, not on which kernel read them. */
#ifndef HW_SIMD_INLINE_H
#define HW_SIMD_INLINE_H

#include <immintrin.h>

/* Lanes (16) -> one float: halves added pairwise, 8 + 8, 4 + 4, 2 + 2, 1 + 1. */
__attribute__((target("avx512f"))) static inline float hsum16_avx512(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

/* The same 16 lanes as two 8-lane halves (lo: lanes 0-7, hi: 8-15), same tree. */
__attribute__((target("avx2,fma"))) static inline float hsum16_avx2(__m256 lo, __m256 hi) {
    __m256 a = _mm256_add_ps(lo, hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

#endif
