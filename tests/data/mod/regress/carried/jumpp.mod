: A STATE reset by a PROCEDURE that BREAKPOINT calls before its SOLVE,
: with the current read before the reset: NEURON's second BREAKPOINT call
: (at v) reads the state its first call (at v + 0.001) reset.
NEURON {
    SUFFIX jumpp
    NONSPECIFIC_CURRENT i
    RANGE g, e, vth, tau
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    g = 0.0002 (S/cm2)
    e = -80 (mV)
    vth = -20 (mV)
    tau = 4 (ms)
}
ASSIGNED {
    v (mV)
    i (mA/cm2)
}
STATE { r }
INITIAL { r = 1 }
BREAKPOINT {
    i = g * r * (v - e)
    reset()
    SOLVE states METHOD cnexp
}
PROCEDURE reset() {
    if (v > vth) {
        r = 0
    }
}
DERIVATIVE states {
    r' = (1 - r) / tau
}
