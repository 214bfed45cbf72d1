// The whole voltage system of one cable step (cable_step.py), fused, as an
// XLA FFI custom call for JAX on the CPU. Compiled at first use by
// _hines_ffi.py (the float64 library, layout below).
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
//
// Split for the build (_hines_ffi.py compiles each .cc on its own, in
// parallel, and links them): hines_cable.h holds the kernels, hines_cable_ffi.h
// the handlers; this unit defines the float64 handlers, hines_cable_fwd64.cc
// and hines_cable_bwd64.cc the float64 kernels (the library a float64
// simulation needs), hines_cable32.cc the float32 handlers and kernels (a
// second library, built when float32 is first used).
#include "hines_cable_ffi.h"

NMLCELL_CABLE(NmlcellCableF64, ffi::F64, true)
NMLCELL_CABLE(NmlcellCableTF64, ffi::F64, false)
