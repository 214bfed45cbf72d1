: euler: a derivative assigned before an IF/ELSE that assigns it again (the
: last value counts: NEURON overwrites Ds)
NEURON { SUFFIX conde NONSPECIFIC_CURRENT i RANGE g, vth, tau1, tau2 }
PARAMETER { g = 2e-4 (S/cm2) vth = -55 (mV) tau1 = 1 (ms) tau2 = 5 (ms) }
ASSIGNED { i (mA/cm2) }
STATE { s }
INITIAL { s = 0 }
BREAKPOINT {
    SOLVE states METHOD euler
    i = g*s*(v + 80)
}
DERIVATIVE states {
    s' = 0
    if (v > vth) { s' = (1 - s)/tau1 } else { s' = -s/tau2 }
}
