: A conductance synapse whose current is updated only while the
: conductance is above gmin; below it the current keeps its last value
: (read before it is assigned: carried from NEURON's previous call).
NEURON {
    POINT_PROCESS LatchSyn
    NONSPECIFIC_CURRENT i
    RANGE tau, e, gmin
}
UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}
PARAMETER {
    tau = 4 (ms)
    e = 0 (mV)
    gmin = 0.001 (uS)
}
ASSIGNED {
    v (mV)
    i (nA)
}
STATE { g (uS) }
INITIAL { g = 0 }
BREAKPOINT {
    SOLVE decay METHOD cnexp
    if (g > gmin) {
        i = g * (v - e)
    }
}
DERIVATIVE decay {
    g' = -g / tau
}
NET_RECEIVE(weight (uS)) {
    g = g + weight
}
