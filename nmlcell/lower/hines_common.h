// Shared by the C++ kernels of hines.cc (the plain tree solve) and
// hines_cable*.cc (a cable step's fused voltage system): the vector width and
// the rescaling period of the elimination's projective pair. No XLA header:
// the translation units that hold only kernels (hines_cable_fwd64.cc, ...)
// compile without parsing the FFI API. Built at first use by _hines_ffi.py,
// with this folder on the include path.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace nmlcell_ffi {

// Steps between rescalings of the projective pair (P, Q) carried along an
// unbranched run by the eliminations (hines.cc, hines_cable.h): the pair
// grows by about |d'| per step, so float32 rescales more often.
template <typename T>
constexpr int rescale_every() { return sizeof(T) >= 8 ? 8 : 4; }

template <typename T>
constexpr int64_t lanes() { return 32 / sizeof(T); }  // one 256-bit vector

}  // namespace nmlcell_ffi
