// Hines' exact solve of a tree-structured (cable) matrix, as an XLA FFI
// custom call for JAX on the CPU. Compiled at first use by _hines_ffi.py.
//
// Row i of the matrix: d[i] x[i] + b[i] x[parent[i]] + sum over children c
// of a[c] x[c] = rhs[i]; parent[0] = -1 and parent[i] < i (Hines order).
// Elimination from the leaves to the root, then substitution from the root
// (NEURON's triang/bksub), exact, O(n), no pivoting.
//
// Buffers: parent int32 (at least n entries; the first n are used, so a
// parent broadcast over a batch is fine); a, b, d: either n entries (shared
// by the whole batch) or as many as rhs; rhs and the result: (..., n).
// A batch is solved a vector's width of systems at a time (4 in float64, 8 in
// float32), packed so that the work on one node is one vector operation.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Steps between rescalings of the projective pair (P, Q) below: the pair
// grows by about |d'| per step, so float32 rescales more often.
template <typename T>
constexpr int rescale_every() { return sizeof(T) >= 8 ? 8 : 4; }

// L systems sharing the tree, stored lane-contiguous: entry (node i, lane l)
// at [i * L + l], so the lane loops below are plain vector operations.
// On entry w holds d and x holds rhs; on exit x holds the solution (w is
// scratch). With Shared, all lanes share one a and one b of n entries.
//
// The plain elimination, d'[p] -= a[i] b[i] / d'[i], puts a division and a
// store-to-load round trip on the critical path of every node. Along an
// unbranched run (parent[i] == i - 1, the common case in Hines order) this
// kernel instead carries d'[i] in registers as a fraction P / Q:
//   P' = (d[i-1] + contributions already stored) P - a[i] b[i] Q,  Q' = P,
// a multiply and a multiply-add per node; the divisions (for the multiplier
// a[i] Q / P and the reciprocal kept for the substitution) leave the critical
// path and overlap. (P, Q) is reset to (1, Q / P) every few steps so that it
// stays in range. The right-hand side rides along the same way.
template <typename T, int64_t L, bool Shared>
void solve_packed(int64_t n, const int32_t* __restrict par, const T* __restrict a,
                  const T* __restrict b, T* __restrict w, T* __restrict x) {
  auto A = [&](int64_t i, int64_t l) { return Shared ? a[i] : a[i * L + l]; };
  auto B = [&](int64_t i, int64_t l) { return Shared ? b[i] : b[i * L + l]; };
  T P[L], Q[L], rr[L];
  for (int64_t l = 0; l < L; ++l) {
    P[l] = w[(n - 1) * L + l];
    Q[l] = T(1);
    rr[l] = x[(n - 1) * L + l];
  }
  int k = 0;
  // elimination, leaves to root; afterwards w holds 1 / d' and x holds rhs'
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t p = par[i];
    T* wi = w + i * L;
    T* xi = x + i * L;
    T* wp = w + p * L;
    T* xp = x + p * L;
    if (p == i - 1) {
      const bool rescale = ++k == rescale_every<T>();
      if (rescale) k = 0;
      for (int64_t l = 0; l < L; ++l) {
        const T inv = Q[l] / P[l];
        const T f = A(i, l) * inv;
        wi[l] = inv;
        xi[l] = rr[l];
        const T P2 = wp[l] * P[l] - (A(i, l) * B(i, l)) * Q[l];
        rr[l] = xp[l] - f * rr[l];
        Q[l] = P[l];
        P[l] = P2;
      }
      if (rescale) {
        for (int64_t l = 0; l < L; ++l) {
          Q[l] = Q[l] / P[l];
          P[l] = T(1);
        }
      }
    } else {  // the first node of a branch: its parent is updated in memory
      k = 0;
      for (int64_t l = 0; l < L; ++l) {
        const T inv = Q[l] / P[l];
        const T f = A(i, l) * inv;
        wi[l] = inv;
        xi[l] = rr[l];
        wp[l] -= f * B(i, l);
        xp[l] -= f * rr[l];
        // every child of node i - 1 is done and has updated it in memory
        P[l] = wi[l - L];
        Q[l] = T(1);
        rr[l] = xi[l - L];
      }
    }
  }
  for (int64_t l = 0; l < L; ++l) {
    w[l] = Q[l] / P[l];
    x[l] = rr[l];
  }
  // substitution, root to leaves: x[i] = y[i] - c[i] x[parent[i]] with
  // y = rhs' / d' and c = b / d' formed first (independent across nodes)
  for (int64_t l = 0; l < L; ++l) x[l] *= w[l];
  for (int64_t i = 1; i < n; ++i) {
    for (int64_t l = 0; l < L; ++l) {
      x[i * L + l] *= w[i * L + l];
      w[i * L + l] *= B(i, l);
    }
  }
  T xv[L];
  for (int64_t l = 0; l < L; ++l) xv[l] = x[l];
  for (int64_t i = 1; i < n; ++i) {
    const int64_t p = par[i];
    T* xi = x + i * L;
    const T* wi = w + i * L;
    if (p == i - 1) {
      for (int64_t l = 0; l < L; ++l) xv[l] = xi[l] -= wi[l] * xv[l];
    } else {
      const T* xp = x + p * L;
      for (int64_t l = 0; l < L; ++l) xv[l] = xi[l] -= wi[l] * xp[l];
    }
  }
}

template <typename T>
constexpr int64_t lanes() { return 32 / sizeof(T); }  // one 256-bit vector


template <ffi::DataType DT>
ffi::Error hines_impl(ffi::Buffer<ffi::S32> parent, ffi::Buffer<DT> a, ffi::Buffer<DT> b,
                      ffi::Buffer<DT> d, ffi::Buffer<DT> rhs, ffi::ResultBuffer<DT> x) {
  using T = ffi::NativeType<DT>;
  constexpr int64_t L = lanes<T>();
  const auto dims = rhs.dimensions();
  if (dims.size() == 0) return ffi::Error::InvalidArgument("hines: rhs must have a node axis");
  const int64_t n = dims.back();
  if (n == 0) return ffi::Error::Success();
  const int64_t total = static_cast<int64_t>(rhs.element_count());
  const int64_t batch = total / n;
  if (static_cast<int64_t>(parent.element_count()) < n)
    return ffi::Error::InvalidArgument("hines: parent is shorter than the node axis");
  const int32_t* par = parent.typed_data();
  if (par[0] != -1) return ffi::Error::InvalidArgument("hines: parent[0] must be -1");
  for (int64_t i = 1; i < n; ++i)
    if (par[i] < 0 || par[i] >= i)
      return ffi::Error::InvalidArgument("hines: nodes are not in Hines order (parent[i] < i)");
  const int64_t na = a.element_count(), nb = b.element_count(), nd = d.element_count();
  for (int64_t m : {na, nb, nd})
    if (m != n && m != total)
      return ffi::Error::InvalidArgument("hines: a, b, d need n entries or as many as rhs");
  const T* pa = a.typed_data();
  const T* pb = b.typed_data();
  const T* pd = d.typed_data();
  const T* pr = rhs.typed_data();
  T* px = x->typed_data();
  const bool shared = na == n && nb == n, shared_d = nd == n;
  thread_local std::vector<T> scratch;
  int64_t k = 0;
  if (batch >= L) {
    // blocks of L systems, packed lane-contiguous
    scratch.resize(static_cast<size_t>(4 * n * L));
    T* A = scratch.data();
    T* B = A + n * L;
    T* W = B + n * L;
    T* X = W + n * L;
    for (; k + L <= batch; k += L) {
      for (int64_t l = 0; l < L; ++l) {
        const int64_t o = (k + l) * n;
        for (int64_t i = 0; i < n; ++i) {
          if (!shared) {
            A[i * L + l] = pa[(na == n ? 0 : o) + i];
            B[i * L + l] = pb[(nb == n ? 0 : o) + i];
          }
          W[i * L + l] = pd[(shared_d ? 0 : o) + i];
          X[i * L + l] = pr[o + i];
        }
      }
      if (shared)
        solve_packed<T, L, true>(n, par, pa, pb, W, X);
      else
        solve_packed<T, L, false>(n, par, A, B, W, X);
      for (int64_t l = 0; l < L; ++l) {
        T* out = px + (k + l) * n;
        for (int64_t i = 0; i < n; ++i) out[i] = X[i * L + l];
      }
    }
  }
  scratch.resize(static_cast<size_t>(std::max<int64_t>(4 * n * L, n)));
  for (; k < batch; ++k) {  // the rest one at a time, in place in the output
    const int64_t o = k * n;
    T* W = scratch.data();
    for (int64_t i = 0; i < n; ++i) {
      W[i] = pd[(shared_d ? 0 : o) + i];
      px[o + i] = pr[o + i];
    }
    solve_packed<T, 1, true>(n, par, pa + (na == n ? 0 : o), pb + (nb == n ? 0 : o), W, px + o);
  }
  return ffi::Error::Success();
}


// ---------------------------------------------------------------------------
// The whole voltage system of one cable step (cable_step.py), fused. The
// compartments arrive as the mechanism groups' own arrays, G of them, each of
// shape (..., s_g): W systems (cells, the leading axes) of s_g nodes each.
// Hines node h is node ji[h] of group gi[h]. A block of L systems is packed
// lane-contiguous while it is read (a strided gather, as fast here as reading
// a batch-minor layout, which would cost XLA transposes around the call). Inputs per group: V (mV), I (membrane
// current, mA/cm2), D (the diagonal without its axial part, 1e-3 cm/dt + g);
// the shared a, b and axial diagonal dax in Hines order.
//   rhs[h] = -I[h], then for h = 1..n-1 (NEURON's nrn_rhs order):
//     dv = V[p] - V[h]; rhs[h] -= b[h] dv; rhs[p] += a[h] dv
//   solve (D + dax, a, b) x = rhs; x returned per group, shaped as V.
// One sweep gathers and forms the right-hand side, one eliminates, one
// substitutes and writes the result. The transpose (reverse mode) takes per
// group D, the forward x and the cotangent g of x, solves A^T lam = g (a and
// b swapped) and returns Vbar = -L^T lam, Ibar = -lam, Dbar = -lam x, with L
// the axial matrix (diagonal dax, b[h] at (h, p), a[h] at (p, h)).
template <typename T>
struct CableCall {
  const int32_t *gi, *ji, *par;  // node -> group, node within it; the tree
  const T *a, *b, *dax;
  const T* const* in[3];  // per group: fwd V, I, D; transpose D, x, g
  T* const* out[3];       // per group: fwd x; transpose Vbar, Ibar, Dbar
  const int64_t* rows;    // per group: s_g, the stride between systems
  const int64_t* ls[3];   // per input and group: s_g, or 0 where one system's
                          // values are shared by all (vmap's unbatched operand)
  const int32_t* hpos;    // the Hines node of group g's node j: hpos[hstart[g] + j]
  const int64_t* hstart;
};

// Elimination, leaves to root, on L systems packed lane-contiguous in (Wd, X)
// (entry (node i, lane l) at [i * L + l]; on entry Wd = d, X = rhs), then
// substitution from the root; emit(i, x_i) is called as each node's solution
// is final (root first). Along an unbranched run d'[i] is carried in
// registers as a fraction P / Q (see solve_packed); the stores fold in the
// substitution's factors: Wd[i] = B[i] / d'[i], X[i] = rhs'[i] / d'[i].
template <typename T, int64_t L, typename Emit>
inline void solve_fused(int64_t n, const int32_t* __restrict par, const T* __restrict A,
                        const T* __restrict B, T* __restrict Wd, T* __restrict X, Emit emit) {
  T P[L], Q[L], rr[L];
  for (int64_t l = 0; l < L; ++l) {
    P[l] = Wd[(n - 1) * L + l];
    Q[l] = T(1);
    rr[l] = X[(n - 1) * L + l];
  }
  int k = 0;
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t p = par[i];
    T* wi = Wd + i * L;
    T* xi = X + i * L;
    T* wp = Wd + p * L;
    T* xp = X + p * L;
    const T ai = A[i], bi = B[i], ab = A[i] * B[i];
    if (p == i - 1) {
      const bool rescale = ++k == rescale_every<T>();
      if (rescale) k = 0;
      for (int64_t l = 0; l < L; ++l) {
        const T inv = Q[l] / P[l];
        const T f = ai * inv;
        wi[l] = inv * bi;
        xi[l] = rr[l] * inv;
        const T P2 = wp[l] * P[l] - ab * Q[l];
        rr[l] = xp[l] - f * rr[l];
        Q[l] = P[l];
        P[l] = P2;
      }
      if (rescale) {
        for (int64_t l = 0; l < L; ++l) {
          Q[l] = Q[l] / P[l];
          P[l] = T(1);
        }
      }
    } else {  // the first node of a branch: its parent is updated in memory
      k = 0;
      for (int64_t l = 0; l < L; ++l) {
        const T inv = Q[l] / P[l];
        const T f = ai * inv;
        wi[l] = inv * bi;
        xi[l] = rr[l] * inv;
        wp[l] -= f * bi;
        xp[l] -= f * rr[l];
        // every child of node i - 1 is done and has updated it in memory
        P[l] = wi[l - L];
        Q[l] = T(1);
        rr[l] = xi[l - L];
      }
    }
  }
  T xv[L];
  for (int64_t l = 0; l < L; ++l) xv[l] = X[l] = rr[l] * (Q[l] / P[l]);
  emit(0, X);
  for (int64_t i = 1; i < n; ++i) {
    const int64_t p = par[i];
    T* xi = X + i * L;
    const T* wi = Wd + i * L;
    if (p == i - 1) {
      for (int64_t l = 0; l < L; ++l) xv[l] = xi[l] -= wi[l] * xv[l];
    } else {
      const T* xp = X + p * L;
      for (int64_t l = 0; l < L; ++l) xv[l] = xi[l] -= wi[l] * xp[l];
    }
    emit(i, xi);
  }
}

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

// L systems starting at system k0: the groups' V, -I and D + dax packed in
// Hines order, NEURON's right-hand side, the solve, x (or V + x) back into
// each group
template <typename T, int64_t L>
void cable_fwd_block(const CableCall<T>& c, int64_t n, int64_t G, int64_t k0, T* Vh, T* Wd, T* X, bool add_v) {
  for (int64_t g = 0; g < G; ++g) {
    const int64_t s = c.rows[g];
    const int32_t* hp = c.hpos + c.hstart[g];
    pack_group<T, L>(c.in[0][g], s, c.ls[0][g], k0, hp, Vh, [](int64_t, T v) { return v; });
    pack_group<T, L>(c.in[1][g], s, c.ls[1][g], k0, hp, X, [](int64_t, T v) { return -v; });
    pack_group<T, L>(c.in[2][g], s, c.ls[2][g], k0, hp, Wd, [&](int64_t h, T v) { return v + c.dax[h]; });
  }
  for (int64_t h = 1; h < n; ++h) {
    const int64_t p = c.par[h];
    T* __restrict x = X + h * L;
    T* __restrict xp = X + p * L;
    const T* __restrict vh = Vh + h * L;
    const T* __restrict vp = Vh + p * L;
    const T ah = c.a[h], bh = c.b[h];
    for (int64_t l = 0; l < L; ++l) {
      const T dv = vp[l] - vh[l];
      x[l] -= bh * dv;
      xp[l] += ah * dv;
    }
  }
  solve_fused<T, L>(n, c.par, c.a, c.b, Wd, X, [](int64_t, const T*) {});
  for (int64_t g = 0; g < G; ++g) {
    if (add_v)
      unpack_group<T, L, true>(X, Vh, c.rows[g], k0, c.hpos + c.hstart[g], c.out[0][g]);
    else
      unpack_group<T, L, false>(X, Vh, c.rows[g], k0, c.hpos + c.hstart[g], c.out[0][g]);
  }
}

template <typename T, int64_t L>
void cable_bwd_block(const CableCall<T>& c, int64_t n, int64_t k0, T* Y, T* Wd, T* X) {
  for (int64_t h = 0; h < n; ++h) {
    const int64_t g = c.gi[h], j = c.ji[h], sd = c.ls[0][g], sg = c.ls[2][g];
    const T* __restrict D = c.in[0][g] + k0 * sd + j;
    const T* __restrict G = c.in[2][g] + k0 * sg + j;
    const T dh = c.dax[h];
    for (int64_t l = 0; l < L; ++l) {
      Wd[h * L + l] = D[l * sd] + dh;
      X[h * L + l] = G[l * sg];
    }
  }
  // the transpose: a and b swapped; Y = dax lam as each lam is final
  solve_fused<T, L>(n, c.par, c.b, c.a, Wd, X, [&](int64_t h, const T* xh) {
    const T dh = c.dax[h];
    for (int64_t l = 0; l < L; ++l) Y[h * L + l] = dh * xh[l];
  });
  for (int64_t h = 1; h < n; ++h) {
    const int64_t p = c.par[h];
    const T ah = c.a[h], bh = c.b[h];
    for (int64_t l = 0; l < L; ++l) {
      Y[p * L + l] += bh * X[h * L + l];
      Y[h * L + l] += ah * X[p * L + l];
    }
  }
  for (int64_t h = 0; h < n; ++h) {
    const int64_t g = c.gi[h], s = c.rows[g], q = k0 * s + c.ji[h], sx = c.ls[1][g];
    const T* __restrict xs = c.in[1][g] + k0 * sx + c.ji[h];
    T* __restrict Vb = c.out[0][g] + q;
    T* __restrict Ib = c.out[1][g] + q;
    T* __restrict Db = c.out[2][g] + q;
    for (int64_t l = 0; l < L; ++l) {
      const T lam = X[h * L + l];
      Vb[l * s] = -Y[h * L + l];
      Ib[l * s] = -lam;
      Db[l * s] = -lam * xs[l * sx];
    }
  }
}

// The static tables: the tree, the node -> (group, row) map and its inverse
// (hpos, group by group). Checked at the first call with each set of tables
// (O(n), 2 us for 579 nodes: a fifth of a single cell's step) and remembered
// by address; CableSystem builds them consistent, this guards the memory.
inline ffi::Error cable_check(int64_t n, const int32_t* gi, const int32_t* ji, const int32_t* par,
                              const int32_t* hpos, const int64_t* hstart, int64_t G) {
  struct Seen {
    const int32_t *gi = nullptr, *ji = nullptr, *par = nullptr, *hpos = nullptr;
    int64_t n = -1;
    std::vector<int64_t> hstart;
  };
  thread_local Seen seen;
  if (seen.gi == gi && seen.ji == ji && seen.par == par && seen.hpos == hpos && seen.n == n &&
      seen.hstart.size() == static_cast<size_t>(G + 1) && std::equal(hstart, hstart + G + 1, seen.hstart.begin()))
    return ffi::Error::Success();
  if (hstart[G] != n) return ffi::Error::InvalidArgument("cable: the groups' sizes do not add up to the tree's n nodes");
  if (par[0] != -1) return ffi::Error::InvalidArgument("cable: parent[0] must be -1");
  for (int64_t i = 1; i < n; ++i)
    if (par[i] < 0 || par[i] >= i)
      return ffi::Error::InvalidArgument("cable: nodes are not in Hines order (parent[i] < i)");
  for (int64_t i = 0; i < n; ++i) {
    if (gi[i] < 0 || gi[i] >= G || ji[i] < 0 || ji[i] >= hstart[gi[i] + 1] - hstart[gi[i]])
      return ffi::Error::InvalidArgument("cable: a node's group or row is out of range");
    if (hpos[hstart[gi[i]] + ji[i]] != i)
      return ffi::Error::InvalidArgument("cable: hpos is not the inverse of the node -> (group, row) map");
  }
  seen = Seen{gi, ji, par, hpos, n, std::vector<int64_t>(hstart, hstart + G + 1)};
  return ffi::Error::Success();
}

// Reads the call's variadic buffers: nout results per group, each (..., s_g)
// with the same leading axes (W systems), and nin inputs per group shaped
// as the results or (s_g,) (shared by all systems); fills c, rows and ls.
template <typename T>
ffi::Error cable_layout(ffi::DataType dt, const ffi::RemainingArgs& args, const ffi::RemainingRets& rets,
                        int64_t nin, int64_t nout, int64_t& G, int64_t& W, CableCall<T>& c,
                        std::vector<const T*> (&ins)[3], std::vector<T*> (&outs)[3],
                        std::vector<int64_t>& rows, std::vector<int64_t> (&ls)[3]) {
  if (rets.size() == 0 || rets.size() % nout || args.size() != rets.size() / nout * nin)
    return ffi::Error::InvalidArgument("cable: the buffers do not come in whole groups");
  G = static_cast<int64_t>(rets.size()) / nout;
  rows.assign(G, -1);
  for (int j = 0; j < 3; ++j) {
    ins[j].assign(G, nullptr);
    outs[j].assign(G, nullptr);
    ls[j].assign(G, 0);
  }
  W = -1;
  int64_t w = 0;
  auto shape = [&](ffi::AnyBuffer::Dimensions d, int64_t g) -> bool {
    if (d.size() < 1) return false;
    w = 1;
    for (size_t k = 0; k + 1 < d.size(); ++k) w *= d[k];
    if (W < 0) W = w;
    if (rows[g] < 0) rows[g] = d.back();
    return (w == W || w == 1) && d.back() == rows[g];
  };
  for (int64_t j = 0; j < nout; ++j)
    for (int64_t g = 0; g < G; ++g) {
      auto r = rets.get<ffi::AnyBuffer>(j * G + g);
      if (r.has_error()) return r.error();
      ffi::AnyBuffer buf = **r;
      if (buf.element_type() != dt || !shape(buf.dimensions(), g) || w != W)
        return ffi::Error::InvalidArgument("cable: a result has the wrong type or shape");
      outs[j][g] = static_cast<T*>(buf.untyped_data());
    }
  for (int64_t j = 0; j < nin; ++j)
    for (int64_t g = 0; g < G; ++g) {
      auto r = args.get<ffi::AnyBuffer>(j * G + g);
      if (r.has_error()) return r.error();
      if (r->element_type() != dt || !shape(r->dimensions(), g))
        return ffi::Error::InvalidArgument("cable: the groups' arrays need one type and the results' shapes");
      ins[j][g] = static_cast<const T*>(r->untyped_data());
      ls[j][g] = w == W ? rows[g] : 0;
    }
  for (int j = 0; j < 3; ++j) {
    c.in[j] = ins[j].data();
    c.out[j] = outs[j].data();
    c.ls[j] = ls[j].data();
  }
  c.rows = rows.data();
  return ffi::Error::Success();
}

// systems per block in float64 (twice as many in float32): several vectors'
// worth, so that the dependent chain of one node's elimination overlaps
#ifndef NMLCELL_CABLE_LANES
#define NMLCELL_CABLE_LANES 32
#endif

template <ffi::DataType DT, bool Fwd>
ffi::Error cable_impl(ffi::Buffer<ffi::S32> gidx, ffi::Buffer<ffi::S32> jidx, ffi::Buffer<ffi::S32> parent,
                      ffi::Buffer<ffi::S32> hposb, ffi::Buffer<DT> a, ffi::Buffer<DT> b, ffi::Buffer<DT> dax, ffi::RemainingArgs args,
                      ffi::RemainingRets rets, bool add_v) {
  using T = ffi::NativeType<DT>;
  const int64_t n = static_cast<int64_t>(parent.dimensions().back());
  if (n == 0) return ffi::Error::Success();
  for (int64_t m : {gidx.dimensions().back(), jidx.dimensions().back(), hposb.dimensions().back(),
                    a.dimensions().back(), b.dimensions().back(), dax.dimensions().back()})
    if (m != n) return ffi::Error::InvalidArgument("cable: the tables need the tree's n entries");
  thread_local std::vector<const T*> ins[3];
  thread_local std::vector<T*> outs[3];
  thread_local std::vector<int64_t> rows, ls[3];
  CableCall<T> c;
  int64_t G, W;
  ffi::Error err = cable_layout<T>(DT, args, rets, 3, Fwd ? 1 : 3, G, W, c, ins, outs, rows, ls);
  if (err.failure()) return err;
  c.gi = gidx.typed_data();
  c.ji = jidx.typed_data();
  c.par = parent.typed_data();
  c.a = a.typed_data();
  c.b = b.typed_data();
  c.dax = dax.typed_data();
  thread_local std::vector<int64_t> hstart;
  hstart.assign(G + 1, 0);
  for (int64_t g = 0; g < G; ++g) hstart[g + 1] = hstart[g] + rows[g];
  c.hpos = hposb.typed_data();
  c.hstart = hstart.data();
  err = cable_check(n, c.gi, c.ji, c.par, c.hpos, c.hstart, G);
  if (err.failure()) return err;
  constexpr int64_t L = NMLCELL_CABLE_LANES * (8 / sizeof(T));
  constexpr int64_t L4 = 32 / sizeof(T);  // one 256-bit vector
  thread_local std::vector<T> scratch;
  scratch.resize(static_cast<size_t>(3 * n * L));
  T* s0 = scratch.data();
  auto run = [&](auto lanes, int64_t k) {
    constexpr int64_t M = decltype(lanes)::value;
    if constexpr (Fwd)
      cable_fwd_block<T, M>(c, n, G, k, s0, s0 + n * M, s0 + 2 * n * M, add_v);
    else
      cable_bwd_block<T, M>(c, n, k, s0, s0 + n * M, s0 + 2 * n * M);
  };
  int64_t k = 0;
  for (; k + L <= W; k += L) run(std::integral_constant<int64_t, L>{}, k);
  for (; k + L4 <= W; k += L4) run(std::integral_constant<int64_t, L4>{}, k);
  for (; k < W; ++k) run(std::integral_constant<int64_t, 1>{}, k);
  return ffi::Error::Success();
}

}  // namespace

#define NMLCELL_HINES(name, DT)                                                      \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, hines_impl<DT>,                                \
                                ffi::Ffi::Bind()                                     \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Ret<ffi::Buffer<DT>>());

NMLCELL_HINES(NmlcellHinesF64, ffi::F64)
NMLCELL_HINES(NmlcellHinesF32, ffi::F32)

// gidx, jidx, parent, hpos, a, b, dax, then per group V..., I..., D... (forward)
// or D..., x..., g... (transpose), each (..., s_g); results per group x (or
// V + x with the attribute add_v) or Vbar..., Ibar..., Dbar...
#define NMLCELL_CABLE(name, DT, FWD)                                                 \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, (cable_impl<DT, FWD>),                         \
                                ffi::Ffi::Bind()                                     \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .RemainingArgs()                                 \
                                    .RemainingRets()                                 \
                                    .Attr<bool>("add_v"));

NMLCELL_CABLE(NmlcellCableF64, ffi::F64, true)
NMLCELL_CABLE(NmlcellCableF32, ffi::F32, true)
NMLCELL_CABLE(NmlcellCableTF64, ffi::F64, false)
NMLCELL_CABLE(NmlcellCableTF32, ffi::F32, false)
