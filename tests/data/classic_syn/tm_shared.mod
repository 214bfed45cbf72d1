: Tsodyks-Markram facilitation and depression kept by the synapse (one u
: and R for all its NetCons, ModelDB's common deterministic form): at each
: event u and R relax from their values at the last event, the event
: releases u*R of the resources, and an exponential conductance jumps by
: weight*u*R.  Written for nmlcell's tests.
NEURON {
    POINT_PROCESS TMShared
    RANGE tau, e, U, tau_rec, tau_fac, u, R, g
    NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) }
PARAMETER {
    tau = 3 (ms)
    e = 0 (mV)
    U = 0.2
    tau_rec = 120 (ms)
    tau_fac = 40 (ms)
}
ASSIGNED { v (mV) i (nA) u R tsyn (ms) }
STATE { g (uS) }
INITIAL { g = 0 u = U R = 1 tsyn = -1e9 }
BREAKPOINT {
    SOLVE st METHOD cnexp
    i = g*(v - e)
}
DERIVATIVE st { g' = -g/tau }
NET_RECEIVE(weight (uS)) {
    u = U + (u - U)*exp(-(t - tsyn)/tau_fac)
    R = 1 - (1 - R)*exp(-(t - tsyn)/tau_rec)
    g = g + weight*u*R
    R = R - u*R
    u = u + U*(1 - u)
    tsyn = t
}
