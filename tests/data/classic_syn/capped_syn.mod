: An exponential synapse whose events count while its conductance is
: above gcap, and add only 30% of their weight after three such events:
: the conductance's update reads the count and the count's reads the
: conductance (a cycle in NET_RECEIVE).  Written for nmlcell's tests.
NEURON {
    POINT_PROCESS CappedSyn
    RANGE tau, e, gcap, n
    NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) }
PARAMETER { tau = 3 (ms) e = 0 (mV) gcap = 0.004 (uS) }
ASSIGNED { v (mV) i (nA) n }
STATE { g (uS) }
INITIAL { g = 0 n = 0 }
BREAKPOINT {
    SOLVE st METHOD cnexp
    i = g*(v - e)
}
DERIVATIVE st { g' = -g/tau }
NET_RECEIVE(weight (uS)) {
    if (n < 3) {
        g = g + weight
    } else {
        g = g + 0.3*weight
    }
    if (g > gcap) {
        n = n + 1
    }
}
