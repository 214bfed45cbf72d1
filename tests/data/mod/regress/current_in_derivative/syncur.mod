: A NONSPECIFIC_CURRENT assigned only in a PROCEDURE that the DERIVATIVE
: block calls (the form of jNeuroML's NEURON export of a synapse).
NEURON {
    POINT_PROCESS SynCur
    NONSPECIFIC_CURRENT i
    RANGE tau, e, g
}
UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}
PARAMETER {
    tau = 2 (ms)
    e = 0 (mV)
}
ASSIGNED {
    v (mV)
    i (nA)
}
STATE { g (uS) }
INITIAL {
    g = 0
    rates()
}
BREAKPOINT {
    SOLVE states METHOD cnexp
}
DERIVATIVE states {
    rates()
    g' = -g / tau
}
PROCEDURE rates() {
    i = g * (v - e)
}
