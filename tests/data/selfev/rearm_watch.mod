: A threshold unit that re-arms its WATCH from a self-event's branch (a
: second WATCH with another condition): nmlcell refuses it (a test of the
: refusal; NEURON runs it).

NEURON {
    POINT_PROCESS RearmWatch
    RANGE vthresh, vreset, hold
    NONSPECIFIC_CURRENT i
}

UNITS {
    (mV) = (millivolt)
    (nA) = (nanoamp)
}

PARAMETER {
    vthresh = -50 (mV)
    vreset = -65 (mV)
    hold = 1 (ms)
}

ASSIGNED {
    v (mV)
    i (nA)
}

INITIAL {
    net_send(0, 4)
}

BREAKPOINT {
    i = 0
}

NET_RECEIVE (weight) {
    if (flag == 1) {
        net_event(t)
        net_send(hold, 2)
    } else if (flag == 2) {
        v = vreset
        WATCH (v > vthresh + 5) 1
    } else if (flag == 4) {
        WATCH (v > vthresh) 1
    }
}
