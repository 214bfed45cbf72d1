// Spike delivery into merged linear synapses (passes/merge_synapses.py), as
// an XLA FFI custom call for JAX on the CPU. Compiled at first use by
// _deliver_ffi.py.
//
// For every source s whose entry in the spike row is set, in ascending s,
// the weights w[e] of its out-edges e in [ptr[s], ptr[s+1]) are added to
// acc[tgt[e]], in edge order: the same additions in the same order as the
// JAX delivery loop (a fixed-size nonzero and a scatter-add per pass), so
// the sums are equal bit for bit. Work: one pass over the row plus the
// spiking sources' out-edges.
//
// Buffers: row bool (..., W); ptr int32 (W+1,); tgt int32 (E,); w float64
// (E,); acc float64 (..., n), returned with the weights added. Leading batch
// axes (vmap) are taken one after the other.
#include <algorithm>
#include <cstdint>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

ffi::Error deliver_impl(ffi::Buffer<ffi::PRED> row, ffi::Buffer<ffi::S32> ptr, ffi::Buffer<ffi::S32> tgt,
                        ffi::Buffer<ffi::F64> w, ffi::Buffer<ffi::F64> acc,
                        ffi::ResultBuffer<ffi::F64> out) {
  const int64_t W = static_cast<int64_t>(ptr.element_count()) - 1;
  const auto rdims = row.dimensions();
  const auto adims = acc.dimensions();
  if (W < 0 || rdims.size() == 0 || rdims.back() != W || adims.size() == 0)
    return ffi::Error::InvalidArgument("deliver: row and ptr do not agree");
  const int64_t n = adims.back();
  const int64_t batch = static_cast<int64_t>(acc.element_count()) / std::max<int64_t>(n, 1);
  if (static_cast<int64_t>(row.element_count()) != batch * W)
    return ffi::Error::InvalidArgument("deliver: row and acc batches differ");
  const bool* r0 = row.typed_data();
  const int32_t* p = ptr.typed_data();
  const int32_t* t = tgt.typed_data();
  const double* wv = w.typed_data();
  const int64_t E = static_cast<int64_t>(tgt.element_count());
  if (static_cast<int64_t>(w.element_count()) != E || (W >= 0 && p[W] > E))
    return ffi::Error::InvalidArgument("deliver: edge tables do not agree");
  const double* a0 = acc.typed_data();
  double* o0 = out->typed_data();
  for (int64_t b = 0; b < batch; ++b) {
    const bool* r = r0 + b * W;
    const double* a = a0 + b * n;
    double* o = o0 + b * n;
    if (o != a) std::copy(a, a + n, o);
    for (int64_t s = 0; s < W; ++s) {
      if (!r[s]) continue;
      for (int32_t e = p[s]; e < p[s + 1]; ++e) {
        const int32_t k = t[e];
        if (k >= 0 && k < n) o[k] += wv[e];
      }
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(NmlcellDeliverF64, deliver_impl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>());
