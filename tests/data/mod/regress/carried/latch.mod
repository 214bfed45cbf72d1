: A current that keeps its last value while v is below a threshold (an
: ASSIGNED read before it is assigned in BREAKPOINT: NEURON carries it from
: the previous BREAKPOINT call), and a counter of BREAKPOINT calls.
NEURON {
    SUFFIX latch
    NONSPECIFIC_CURRENT i
    RANGE g, e, vth, ncall
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    g = 0.0005 (S/cm2)
    e = -60 (mV)
    vth = -30 (mV)
}
ASSIGNED {
    v (mV)
    i (mA/cm2)
    ncall
}
BREAKPOINT {
    ncall = ncall + 1
    if (v > vth) {
        i = g * (v - e)
    }
}
