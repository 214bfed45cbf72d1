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
#include <vector>

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

#ifndef NMLCELL_CABLE_VECTORS
#define NMLCELL_CABLE_VECTORS 4
#endif
// the fused cable kernels: a block of several vectors' worth of systems, so
// that the dependent chain of one node's elimination overlaps across vectors
template <typename T>
constexpr int64_t cable_lanes() { return NMLCELL_CABLE_VECTORS * lanes<T>(); }

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
// The whole voltage system of one cable step (cable_step.py), fused: the
// compartments arrive in the caller's order (the mechanism groups side by
// side) and pos[h] is where Hines node h sits in it. Inputs V (mV), I (the
// membrane current, mA/cm2) and D (the diagonal without its axial part,
// 1e-3 cm/dt + g); the shared a, b and axial diagonal dax in Hines order.
//   rhs[h] = -I[h], then for h = 1..n-1 (NEURON's nrn_rhs order):
//     dv = V[p] - V[h]; rhs[h] -= b[h] dv; rhs[p] += a[h] dv
//   solve (D + dax, a, b) x = rhs; the result x in the caller's order.
// The transpose (for reverse mode) takes the cotangent g of x and the x of
// the forward pass, solves A^T lam = g (a and b swapped) and returns
//   Vbar = -L^T lam, Ibar = -lam, Dbar = -lam x
// with L the axial matrix (diagonal dax, b[h] at (h, p), a[h] at (p, h)).
template <typename T, int64_t L>
void cable_fwd_block(int64_t n, const int32_t* pos, const int32_t* par, const T* a, const T* b,
                     const T* dax, const T* V, const T* I, const T* D, T* out, int64_t k0,
                     const int64_t* st, T* Vh, T* W, T* X) {
  for (int64_t h = 0; h < n; ++h) {
    const int64_t q = pos[h];
    for (int64_t l = 0; l < L; ++l) {
      Vh[h * L + l] = V[(k0 + l) * st[0] + q];
      W[h * L + l] = D[(k0 + l) * st[2] + q] + dax[h];
      X[h * L + l] = -I[(k0 + l) * st[1] + q];
    }
  }
  for (int64_t h = 1; h < n; ++h) {
    const int64_t p = par[h];
    for (int64_t l = 0; l < L; ++l) {
      const T dv = Vh[p * L + l] - Vh[h * L + l];
      X[h * L + l] -= b[h] * dv;
      X[p * L + l] += a[h] * dv;
    }
  }
  solve_packed<T, L, true>(n, par, a, b, W, X);
  for (int64_t h = 0; h < n; ++h) {
    const int64_t q = pos[h];
    for (int64_t l = 0; l < L; ++l) out[(k0 + l) * n + q] = X[h * L + l];
  }
}

template <typename T, int64_t L>
void cable_bwd_block(int64_t n, const int32_t* pos, const int32_t* par, const T* a, const T* b,
                     const T* dax, const T* D, const T* xs, const T* g, T* Vbar, T* Ibar,
                     T* Dbar, int64_t k0, const int64_t* st, T* Y, T* W, T* X) {
  for (int64_t h = 0; h < n; ++h) {
    const int64_t q = pos[h];
    for (int64_t l = 0; l < L; ++l) {
      W[h * L + l] = D[(k0 + l) * st[0] + q] + dax[h];
      X[h * L + l] = g[(k0 + l) * st[2] + q];
    }
  }
  solve_packed<T, L, true>(n, par, b, a, W, X);  // the transpose: a and b swapped
  for (int64_t h = 0; h < n; ++h)
    for (int64_t l = 0; l < L; ++l) Y[h * L + l] = dax[h] * X[h * L + l];
  for (int64_t h = 1; h < n; ++h) {
    const int64_t p = par[h];
    for (int64_t l = 0; l < L; ++l) {
      Y[p * L + l] += b[h] * X[h * L + l];
      Y[h * L + l] += a[h] * X[p * L + l];
    }
  }
  for (int64_t h = 0; h < n; ++h) {
    const int64_t q = pos[h];
    for (int64_t l = 0; l < L; ++l) {
      const int64_t o = (k0 + l) * n + q;
      const T lam = X[h * L + l];
      Vbar[o] = -Y[h * L + l];
      Ibar[o] = -lam;
      Dbar[o] = -lam * xs[(k0 + l) * st[1] + q];
    }
  }
}

// Checks shared by both: the index arrays and the shared coefficients hold
// at least n entries (a leading axis of 1, as vmap's expand_dims gives, is fine).
inline ffi::Error cable_check(int64_t n, const int32_t* pos, const int32_t* par, int64_t npos,
                              int64_t npar, int64_t nc) {
  if (npos < n || npar < n || nc < n)
    return ffi::Error::InvalidArgument("cable: pos, parent, a, b, dax need the node axis's n entries");
  if (par[0] != -1) return ffi::Error::InvalidArgument("cable: parent[0] must be -1");
  for (int64_t i = 1; i < n; ++i)
    if (par[i] < 0 || par[i] >= i)
      return ffi::Error::InvalidArgument("cable: nodes are not in Hines order (parent[i] < i)");
  for (int64_t i = 0; i < n; ++i)
    if (pos[i] < 0 || pos[i] >= n) return ffi::Error::InvalidArgument("cable: pos out of range");
  return ffi::Error::Success();
}

// The batch stride of each of three inputs: n where it holds the whole
// batch, 0 where it is one system's n values shared by the batch (vmap's
// expand_dims); false where it is neither.
inline bool cable_strides(int64_t n, int64_t total, const int64_t (&cnt)[3], int64_t (&st)[3]) {
  for (int j = 0; j < 3; ++j) {
    if (cnt[j] != n && cnt[j] != total) return false;
    st[j] = cnt[j] == total ? n : 0;
  }
  return true;
}

template <ffi::DataType DT>
ffi::Error cable_fwd_impl(ffi::Buffer<ffi::S32> pos, ffi::Buffer<ffi::S32> parent, ffi::Buffer<DT> a,
                          ffi::Buffer<DT> b, ffi::Buffer<DT> dax, ffi::Buffer<DT> V, ffi::Buffer<DT> I,
                          ffi::Buffer<DT> D, ffi::ResultBuffer<DT> x) {
  using T = ffi::NativeType<DT>;
  constexpr int64_t L = cable_lanes<T>();
  const auto dims = x->dimensions();
  if (dims.size() == 0) return ffi::Error::InvalidArgument("cable: x must have a node axis");
  const int64_t n = dims.back();
  if (n == 0) return ffi::Error::Success();
  const int64_t total = static_cast<int64_t>(x->element_count());
  int64_t st[3];
  if (!cable_strides(n, total, {static_cast<int64_t>(V.element_count()), static_cast<int64_t>(I.element_count()),
                                static_cast<int64_t>(D.element_count())}, st))
    return ffi::Error::InvalidArgument("cable: V, I and D need n entries or the result's shape");
  const int64_t nc = std::min({a.element_count(), b.element_count(), dax.element_count()});
  ffi::Error err = cable_check(n, pos.typed_data(), parent.typed_data(), pos.element_count(),
                               parent.element_count(), nc);
  if (err.failure()) return err;
  const int64_t batch = total / n;
  thread_local std::vector<T> scratch;
  scratch.resize(static_cast<size_t>(3 * n * L));
  T* s0 = scratch.data();
  int64_t k = 0;
  for (; k + L <= batch; k += L)
    cable_fwd_block<T, L>(n, pos.typed_data(), parent.typed_data(), a.typed_data(), b.typed_data(),
                          dax.typed_data(), V.typed_data(), I.typed_data(), D.typed_data(),
                          x->typed_data(), k, st, s0, s0 + n * L, s0 + 2 * n * L);
  for (; k < batch; ++k)
    cable_fwd_block<T, 1>(n, pos.typed_data(), parent.typed_data(), a.typed_data(), b.typed_data(),
                          dax.typed_data(), V.typed_data(), I.typed_data(), D.typed_data(),
                          x->typed_data(), k, st, s0, s0 + n, s0 + 2 * n);
  return ffi::Error::Success();
}

template <ffi::DataType DT>
ffi::Error cable_bwd_impl(ffi::Buffer<ffi::S32> pos, ffi::Buffer<ffi::S32> parent, ffi::Buffer<DT> a,
                          ffi::Buffer<DT> b, ffi::Buffer<DT> dax, ffi::Buffer<DT> D, ffi::Buffer<DT> xs,
                          ffi::Buffer<DT> g, ffi::ResultBuffer<DT> Vbar, ffi::ResultBuffer<DT> Ibar,
                          ffi::ResultBuffer<DT> Dbar) {
  using T = ffi::NativeType<DT>;
  constexpr int64_t L = cable_lanes<T>();
  const auto dims = Vbar->dimensions();
  if (dims.size() == 0) return ffi::Error::InvalidArgument("cable: g must have a node axis");
  const int64_t n = dims.back();
  if (n == 0) return ffi::Error::Success();
  const int64_t total = static_cast<int64_t>(Vbar->element_count());
  int64_t st[3];
  if (!cable_strides(n, total, {static_cast<int64_t>(D.element_count()), static_cast<int64_t>(xs.element_count()),
                                static_cast<int64_t>(g.element_count())}, st))
    return ffi::Error::InvalidArgument("cable: D, x and g need n entries or the results' shape");
  const int64_t nc = std::min({a.element_count(), b.element_count(), dax.element_count()});
  ffi::Error err = cable_check(n, pos.typed_data(), parent.typed_data(), pos.element_count(),
                               parent.element_count(), nc);
  if (err.failure()) return err;
  const int64_t batch = total / n;
  thread_local std::vector<T> scratch;
  scratch.resize(static_cast<size_t>(3 * n * L));
  T* s0 = scratch.data();
  int64_t k = 0;
  for (; k + L <= batch; k += L)
    cable_bwd_block<T, L>(n, pos.typed_data(), parent.typed_data(), a.typed_data(), b.typed_data(),
                          dax.typed_data(), D.typed_data(), xs.typed_data(), g.typed_data(),
                          Vbar->typed_data(), Ibar->typed_data(), Dbar->typed_data(), k, st, s0,
                          s0 + n * L, s0 + 2 * n * L);
  for (; k < batch; ++k)
    cable_bwd_block<T, 1>(n, pos.typed_data(), parent.typed_data(), a.typed_data(), b.typed_data(),
                          dax.typed_data(), D.typed_data(), xs.typed_data(), g.typed_data(),
                          Vbar->typed_data(), Ibar->typed_data(), Dbar->typed_data(), k, st, s0, s0 + n,
                          s0 + 2 * n);
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

#define NMLCELL_CABLE(name, DT)                                                      \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, cable_fwd_impl<DT>,                            \
                                ffi::Ffi::Bind()                                     \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Ret<ffi::Buffer<DT>>());
#define NMLCELL_CABLE_T(name, DT)                                                    \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, cable_bwd_impl<DT>,                            \
                                ffi::Ffi::Bind()                                     \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<ffi::S32>>()                    \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Arg<ffi::Buffer<DT>>()                          \
                                    .Ret<ffi::Buffer<DT>>()                          \
                                    .Ret<ffi::Buffer<DT>>()                          \
                                    .Ret<ffi::Buffer<DT>>());

NMLCELL_CABLE(NmlcellCableF64, ffi::F64)
NMLCELL_CABLE(NmlcellCableF32, ffi::F32)
NMLCELL_CABLE_T(NmlcellCableTF64, ffi::F64)
NMLCELL_CABLE_T(NmlcellCableTF32, ffi::F32)
