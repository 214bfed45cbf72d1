: A gate that jumps to its steady state in BREAKPOINT once that is near
: 1 (the form of jNeuroML's export of gradedSynapse): a STATE assigned
: outside INITIAL, after the SOLVE.
NEURON {
    SUFFIX jump
    NONSPECIFIC_CURRENT i
    RANGE g, e, vh, k, tau, inf
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    g = 0.001 (S/cm2)
    e = -90 (mV)
    vh = -45 (mV)
    k = 5 (mV)
    tau = 20 (ms)
}
ASSIGNED {
    v (mV)
    i (mA/cm2)
    inf
}
STATE { s }
INITIAL {
    rates(v)
    s = inf
}
BREAKPOINT {
    SOLVE states METHOD cnexp
    rates(v)
    if (inf > 0.7) {
        s = inf
    }
    i = g * s * (v - e)
}
DERIVATIVE states {
    rates(v)
    s' = (inf - s) / tau
}
PROCEDURE rates(v (mV)) {
    inf = 1 / (1 + exp(-(v - vh) / k))
}
