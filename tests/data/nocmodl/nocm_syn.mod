: A test point process: a decaying conductance whose PARAMETER defaults
: have more than 6 significant digits, written for nmlcell's tests.
NEURON {
    POINT_PROCESS nocm_syn
    RANGE tau, e, gw
    NONSPECIFIC_CURRENT i
}
UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}
PARAMETER {
    tau = 3.43505510 (ms) <1e-9,1e9>
    e = -5.12345678 (mV)
    gw = 0.0123456789 (uS)
}
ASSIGNED { v (mV) i (nA) }
STATE { g (uS) }
INITIAL { g = gw }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = g * (v - e)
}
DERIVATIVE states { g' = -g / tau }
