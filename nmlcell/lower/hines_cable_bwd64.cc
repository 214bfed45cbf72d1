// The float64 transposed blocks of the fused cable kernel (hines_cable.h):
// a translation unit of its own, compiled beside the others (_hines_ffi.py).
#include "hines_cable.h"

namespace nmlcell_ffi {
void cable_blocks_bwd(const CableCall<double>& c, int64_t n, int64_t W) {
  cable_blocks<double, false>(c, n, 0, W, false);
}
}  // namespace nmlcell_ffi
