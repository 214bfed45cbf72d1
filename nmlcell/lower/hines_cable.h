// The kernels of a cable step's fused voltage system (see hines_cable.cc for
// the call's layout and arithmetic), without the XLA FFI API: included by
// the handlers (hines_cable_ffi.h) and by the kernel-only translation units.
#pragma once

#include "hines_common.h"
#include "hines_pack.h"

namespace nmlcell_ffi {

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
// registers as a fraction P / Q (see solve_packed in hines.cc); the stores fold in the
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

// systems per block in float64 (twice as many in float32): several vectors'
// worth, so that the dependent chain of one node's elimination overlaps
#ifndef NMLCELL_CABLE_LANES
#define NMLCELL_CABLE_LANES 32
#endif
// All W systems, L at a time (then one vector's width, then one by one), in
// a per-thread scratch; explicitly instantiated through the functions below,
// each in its own translation unit (hines_cable_fwd64.cc, hines_cable_bwd64.cc,
// hines_cable32.cc), so that the handlers' unit (hines_cable.cc, with the XLA
// FFI headers) and the kernels compile in parallel.
template <typename T, bool Fwd>
void cable_blocks(const CableCall<T>& c, int64_t n, int64_t G, int64_t W, bool add_v) {
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
}

void cable_blocks_fwd(const CableCall<double>& c, int64_t n, int64_t G, int64_t W, bool add_v);
void cable_blocks_fwd(const CableCall<float>& c, int64_t n, int64_t G, int64_t W, bool add_v);
void cable_blocks_bwd(const CableCall<double>& c, int64_t n, int64_t W);
void cable_blocks_bwd(const CableCall<float>& c, int64_t n, int64_t W);

}  // namespace nmlcell_ffi
