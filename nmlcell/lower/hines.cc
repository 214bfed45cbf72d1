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
// Solves are interleaved LANES at a time so that the dependent chains of
// different systems overlap in the pipeline.
#include <cstdint>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int64_t LANES = 4;

// Steps between rescalings of the projective pair (P, Q) below: the pair
// grows by about |d'| per step, so float32 rescales more often.
template <typename T>
constexpr int rescale_every() { return sizeof(T) >= 8 ? 8 : 4; }

// One to L systems sharing the tree, interleaved (lane l of node i at
// work[i * L + l]). The plain elimination, d'[p] -= a[i] b[i] / d'[i], puts a
// division and a store-to-load round trip on the critical path of every node.
// Along an unbranched run (parent[i] == i - 1, the common case in Hines order)
// this kernel instead carries d'[i] in registers as a fraction P / Q:
//   P' = (d[i-1] + contributions already stored) P - a[i] b[i] Q,  Q' = P,
// a multiply and a multiply-add per node; the divisions (for the multiplier
// a[i] Q / P and the reciprocal kept for the substitution) are then off the
// critical path and overlap. (P, Q) is reset to (1, Q / P) every few steps so
// that it stays in range. The right-hand side rides along the same way.
template <typename T, int64_t L>
void solve_lanes(int64_t n, const int32_t* par, const T* const* a, const T* const* b,
                 const T* const* d, const T* const* r, T* const* x, T* work) {
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t i = 0; i < n; ++i) {
      work[i * L + l] = d[l][i];
      x[l][i] = r[l][i];
    }
  }
  T P[L], Q[L], rr[L];
  for (int64_t l = 0; l < L; ++l) {
    P[l] = work[(n - 1) * L + l];
    Q[l] = T(1);
    rr[l] = x[l][n - 1];
  }
  int k = 0;
  // elimination, leaves to root; afterwards work holds 1 / d' and x holds rhs'
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t p = par[i];
    if (p == i - 1) {
      const bool rescale = ++k == rescale_every<T>();
      if (rescale) k = 0;
      for (int64_t l = 0; l < L; ++l) {
        const T inv = Q[l] / P[l];
        const T f = a[l][i] * inv;
        work[i * L + l] = inv;
        x[l][i] = rr[l];
        const T P2 = work[p * L + l] * P[l] - (a[l][i] * b[l][i]) * Q[l];
        rr[l] = x[l][p] - f * rr[l];
        Q[l] = P[l];
        P[l] = P2;
        if (rescale) {
          Q[l] = Q[l] / P[l];
          P[l] = T(1);
        }
      }
    } else {  // the first node of a branch: its parent gets the update in memory
      k = 0;
      for (int64_t l = 0; l < L; ++l) {
        const T inv = Q[l] / P[l];
        const T f = a[l][i] * inv;
        work[i * L + l] = inv;
        x[l][i] = rr[l];
        work[p * L + l] -= f * b[l][i];
        x[l][p] -= f * rr[l];
        // every child of node i - 1 is done and has updated it in memory
        P[l] = work[(i - 1) * L + l];
        Q[l] = T(1);
        rr[l] = x[l][i - 1];
      }
    }
  }
  for (int64_t l = 0; l < L; ++l) {
    work[l] = Q[l] / P[l];
    x[l][0] = rr[l];
  }
  // substitution, root to leaves: x[i] = y[i] - c[i] x[parent[i]] with
  // y = rhs' / d' and c = b / d' formed first (independent across nodes)
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t i = 0; i < n; ++i) {
      x[l][i] *= work[i * L + l];
      work[i * L + l] *= b[l][i];
    }
  }
  T xp[L];
  for (int64_t l = 0; l < L; ++l) xp[l] = x[l][0];
  for (int64_t i = 1; i < n; ++i) {
    const int64_t p = par[i];
    if (p == i - 1) {
      for (int64_t l = 0; l < L; ++l) xp[l] = x[l][i] -= work[i * L + l] * xp[l];
    } else {
      for (int64_t l = 0; l < L; ++l) xp[l] = x[l][i] -= work[i * L + l] * x[l][p];
    }
  }
}

template <ffi::DataType DT>
ffi::Error hines_impl(ffi::Buffer<ffi::S32> parent, ffi::Buffer<DT> a, ffi::Buffer<DT> b,
                      ffi::Buffer<DT> d, ffi::Buffer<DT> rhs, ffi::ResultBuffer<DT> x) {
  using T = ffi::NativeType<DT>;
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
  thread_local std::vector<T> work;
  work.resize(static_cast<size_t>(n * LANES));
  const T* A[LANES];
  const T* B[LANES];
  const T* D[LANES];
  const T* R[LANES];
  T* X[LANES];
  auto set = [&](int64_t l, int64_t k) {
    A[l] = pa + (na == n ? 0 : k * n);
    B[l] = pb + (nb == n ? 0 : k * n);
    D[l] = pd + (nd == n ? 0 : k * n);
    R[l] = pr + k * n;
    X[l] = px + k * n;
  };
  int64_t k = 0;
  for (; k + LANES <= batch; k += LANES) {
    for (int64_t l = 0; l < LANES; ++l) set(l, k + l);
    solve_lanes<T, LANES>(n, par, A, B, D, R, X, work.data());
  }
  for (; k < batch; ++k) {
    set(0, k);
    solve_lanes<T, 1>(n, par, A, B, D, R, X, work.data());
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
