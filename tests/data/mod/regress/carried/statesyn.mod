: A synaptic current that is itself the STATE: it decays with tau and each
: event steps it by the weight (negative: inward, depolarising).
NEURON {
    POINT_PROCESS StateSyn
    NONSPECIFIC_CURRENT i
    RANGE tau
}
UNITS { (nA) = (nanoamp) }
PARAMETER { tau = 3 (ms) }
STATE { i (nA) }
INITIAL { i = 0 }
BREAKPOINT {
    SOLVE decay METHOD cnexp
}
DERIVATIVE decay {
    i' = -i / tau
}
NET_RECEIVE(weight (nA)) {
    i = i - weight
}
