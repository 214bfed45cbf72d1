// The whole voltage system of one cable step (cable_step.py), fused, as an
// XLA FFI custom call for JAX on the CPU. Compiled at first use by
// _hines_ffi.py into one library with hines.cc (the plain tree solve).
//
// The compartments arrive as the mechanism groups' own arrays, G of them,
// each of shape (..., s_g): W systems (cells, the leading axes) of s_g nodes
// each. Hines node h is node ji[h] of group gi[h]. A block of L systems is
// packed lane-contiguous while it is read (a strided gather, as fast here as
// reading a batch-minor layout, which would cost XLA transposes around the
// call; hines_pack.h). Inputs per group: V (mV), I (membrane
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
#include "hines_common.h"
#include "hines_pack.h"

namespace {

using namespace nmlcell_ffi;

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
