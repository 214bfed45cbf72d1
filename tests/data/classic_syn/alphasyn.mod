: An alpha-function conductance g = w*(t/tau)*exp(1 - t/tau) after each
: event, from two linear states.  Written for nmlcell's tests.
NEURON {
    POINT_PROCESS AlphaSynT
    RANGE tau, e, g
    NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) }
PARAMETER { tau = 2 (ms) e = 0 (mV) }
ASSIGNED { v (mV) i (nA) }
STATE { a (uS) g (uS) }
INITIAL { a = 0 g = 0 }
BREAKPOINT {
    SOLVE st METHOD cnexp
    i = g*(v - e)
}
DERIVATIVE st {
    a' = -a/tau
    g' = a*exp(1)/tau - g/tau
}
NET_RECEIVE(weight (uS)) { a = a + weight }
