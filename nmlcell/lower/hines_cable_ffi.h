// The XLA FFI handlers of the fused cable kernel (hines_cable.h): the
// buffers' layout and checks; the blocks themselves run in
// cable_blocks_fwd / cable_blocks_bwd, compiled in other translation units.
#pragma once

#include "hines_cable.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace nmlcell_ffi {

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
  if constexpr (Fwd)
    cable_blocks_fwd(c, n, G, W, add_v);
  else
    cable_blocks_bwd(c, n, W);
  return ffi::Error::Success();
}

}  // namespace nmlcell_ffi


// gidx, jidx, parent, hpos, a, b, dax, then per group V..., I..., D... (forward)
// or D..., x..., g... (transpose), each (..., s_g); results per group x (or
// V + x with the attribute add_v) or Vbar..., Ibar..., Dbar...
#define NMLCELL_CABLE(name, DT, FWD)                                                 \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(name, (nmlcell_ffi::cable_impl<DT, FWD>),            \
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
