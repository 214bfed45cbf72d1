// The float64 forward blocks of the fused cable kernel (hines_cable.h): a
// translation unit of its own, compiled beside the others (_hines_ffi.py).
#include "hines_cable.h"

namespace nmlcell_ffi {
void cable_blocks_fwd(const CableCall<double>& c, int64_t n, int64_t G, int64_t W, bool add_v) {
  cable_blocks<double, true>(c, n, G, W, add_v);
}
}  // namespace nmlcell_ffi
