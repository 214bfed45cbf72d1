// The float32 fused cable kernel, handlers and blocks (hines_cable_ffi.h,
// hines_cable.h): in the second library with the plain tree solve
// (hines.cc), built the first time float32 or tree_solve's kernel is used.
#include "hines_cable_ffi.h"

namespace nmlcell_ffi {
void cable_blocks_fwd(const CableCall<float>& c, int64_t n, int64_t G, int64_t W, bool add_v) {
  cable_blocks<float, true>(c, n, G, W, add_v);
}
void cable_blocks_bwd(const CableCall<float>& c, int64_t n, int64_t W) {
  cable_blocks<float, false>(c, n, 0, W, false);
}
}  // namespace nmlcell_ffi

NMLCELL_CABLE(NmlcellCableF32, ffi::F32, true)
NMLCELL_CABLE(NmlcellCableTF32, ffi::F32, false)
