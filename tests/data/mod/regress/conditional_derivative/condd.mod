: derivimplicit: a rate chosen by an IF, the derivative outside it
NEURON { SUFFIX condd NONSPECIFIC_CURRENT i RANGE g, vth, tau1, tau2 }
PARAMETER { g = 2e-5 (S/cm2) vth = -55 (mV) tau1 = 1 (ms) tau2 = 5 (ms) }
ASSIGNED { i (mA/cm2) }
STATE { s }
INITIAL { s = 0 }
BREAKPOINT {
    SOLVE states METHOD derivimplicit
    i = g*s*(v + 80)
}
DERIVATIVE states {
    LOCAL rate, sinf
    if (v > vth) { rate = 1/tau1  sinf = 1 } else { rate = 1/tau2  sinf = 0 }
    s' = rate*(sinf - s)
}
