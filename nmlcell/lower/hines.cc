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
//
// The fused voltage system of a cable step is in hines_cable*.cc; both share
// hines_common.h. Built in a second library with the float32 cable kernel
// (hines_cable32.cc) the first time either is used (_hines_ffi.py).
#include "hines_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using namespace nmlcell_ffi;

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
