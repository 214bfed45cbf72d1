// Packing a block of L systems between a mechanism group's batch-major
// array and the lane-packed scratch in Hines order, for the fused cable
// kernel (hines_cable.cc).
#pragma once

#include "hines_common.h"

namespace nmlcell_ffi {

// Moving a block of L systems between a group's batch-major array (system w,
// node j at w * s + j) and the lane-packed scratch in Hines order (node h,
// lane l at h * L + l): tiles of 4 nodes x 4 systems, transposed in
// registers where AVX is available (float64), element by element otherwise.
// pack: P[hpos[j] * L + l] = f(hpos[j], src[(k0 + l) * ls + j]), ls = 0 for a
// shared operand; unpack: dst[(k0 + l) * s + j] = P[hpos[j] * L + l].
template <typename T, int64_t L, typename F>
inline void pack_group(const T* __restrict src, int64_t s, int64_t ls, int64_t k0, const int32_t* hpos,
                       T* __restrict P, F f) {
  int64_t j = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, double> && L % 4 == 0) {
    if (ls != 0) {
      for (; j + 4 <= s; j += 4) {
        const int64_t h0 = hpos[j], h1 = hpos[j + 1], h2 = hpos[j + 2], h3 = hpos[j + 3];
        for (int64_t l = 0; l < L; l += 4) {
          const double* r = src + (k0 + l) * ls + j;
          const __m256d r0 = _mm256_loadu_pd(r), r1 = _mm256_loadu_pd(r + ls);
          const __m256d r2 = _mm256_loadu_pd(r + 2 * ls), r3 = _mm256_loadu_pd(r + 3 * ls);
          const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
          const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
          alignas(32) double col[4][4];
          _mm256_store_pd(col[0], _mm256_permute2f128_pd(t0, t2, 0x20));
          _mm256_store_pd(col[1], _mm256_permute2f128_pd(t1, t3, 0x20));
          _mm256_store_pd(col[2], _mm256_permute2f128_pd(t0, t2, 0x31));
          _mm256_store_pd(col[3], _mm256_permute2f128_pd(t1, t3, 0x31));
          for (int u = 0; u < 4; ++u) {
            const int64_t h = u == 0 ? h0 : u == 1 ? h1 : u == 2 ? h2 : h3;
            for (int t = 0; t < 4; ++t) P[h * L + l + t] = f(h, col[u][t]);
          }
        }
      }
    }
  }
#endif
  for (; j < s; ++j) {
    const int64_t h = hpos[j];
    for (int64_t l = 0; l < L; ++l) P[h * L + l] = f(h, src[(k0 + l) * ls + j]);
  }
}

// AddV: dst = P + Q (x + V: the new voltage) instead of P
template <typename T, int64_t L, bool AddV>
inline void unpack_group(const T* __restrict P, const T* __restrict Q, int64_t s, int64_t k0, const int32_t* hpos,
                         T* __restrict dst) {
  int64_t j = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, double> && L % 4 == 0) {
    for (; j + 4 <= s; j += 4) {
      const int64_t o0 = hpos[j] * L, o1 = hpos[j + 1] * L, o2 = hpos[j + 2] * L, o3 = hpos[j + 3] * L;
      for (int64_t l = 0; l < L; l += 4) {
        __m256d r0 = _mm256_loadu_pd(P + o0 + l), r1 = _mm256_loadu_pd(P + o1 + l);
        __m256d r2 = _mm256_loadu_pd(P + o2 + l), r3 = _mm256_loadu_pd(P + o3 + l);
        if constexpr (AddV) {
          r0 = _mm256_add_pd(r0, _mm256_loadu_pd(Q + o0 + l));
          r1 = _mm256_add_pd(r1, _mm256_loadu_pd(Q + o1 + l));
          r2 = _mm256_add_pd(r2, _mm256_loadu_pd(Q + o2 + l));
          r3 = _mm256_add_pd(r3, _mm256_loadu_pd(Q + o3 + l));
        }
        const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
        const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
        double* d = dst + (k0 + l) * s + j;
        _mm256_storeu_pd(d, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm256_storeu_pd(d + s, _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm256_storeu_pd(d + 2 * s, _mm256_permute2f128_pd(t0, t2, 0x31));
        _mm256_storeu_pd(d + 3 * s, _mm256_permute2f128_pd(t1, t3, 0x31));
      }
    }
  }
#endif
  for (; j < s; ++j) {
    const int64_t h = hpos[j];
    for (int64_t l = 0; l < L; ++l) {
      if constexpr (AddV)
        dst[(k0 + l) * s + j] = P[h * L + l] + Q[h * L + l];
      else
        dst[(k0 + l) * s + j] = P[h * L + l];
    }
  }
}

}  // namespace nmlcell_ffi
