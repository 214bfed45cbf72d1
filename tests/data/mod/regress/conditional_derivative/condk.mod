: KINETIC (sparse) with reactions under IF/ELSE: NEURON adds each branch's
: fluxes; imported as Piecewise rates
NEURON { SUFFIX condk NONSPECIFIC_CURRENT i RANGE g, vth }
PARAMETER { g = 2e-5 (S/cm2) vth = -55 (mV) }
ASSIGNED { i (mA/cm2) }
STATE { a b }
INITIAL { a = 1  b = 0 }
BREAKPOINT {
    SOLVE ks METHOD sparse
    i = g*b*(v + 80)
}
KINETIC ks {
    if (v > vth) { ~ a <-> b (1, 0.2) } else { ~ a <-> b (0.05, 0.5) }
}
