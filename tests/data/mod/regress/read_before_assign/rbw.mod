COMMENT
A value the SOLVEd block reads before BREAKPOINT assigns it (after the
SOLVE): in NEURON's state phase iprev holds what the step's current phase
stored (capmpr.mod's ica and ipump_last). w, computed in the block from
it, is what BREAKPOINT's current reads.
ENDCOMMENT
NEURON { SUFFIX rbw  NONSPECIFIC_CURRENT i  RANGE g, iprev, w }
PARAMETER { g = 1e-3 (S/cm2) e = -70 (mV) tau = 5 (ms) k = 200 (cm2/mA) }
ASSIGNED { v (mV) i (mA/cm2) iprev (mA/cm2) w }
STATE { s }
INITIAL { s = 0.5 }
BREAKPOINT {
    SOLVE st METHOD cnexp
    i = g*s*(v - e) + 1e-4*w
    iprev = i
}
DERIVATIVE st {
    w = k*iprev
    s' = (w - s)/tau
}
