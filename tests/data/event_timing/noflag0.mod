: A leaky integrate-and-fire neuron as a point process whose NET_RECEIVE
: has branches only for its own self-events (flags 1 to 4), as pyNN's
: adexp.mod does: a NetCon's event (flag 0) runs none of them, so in
: NEURON it changes nothing. For nmlcell's tests (event timing).

NEURON {
    POINT_PROCESS NoFlag0LIF
    RANGE vthresh, vreset, trefrac, gon, grefrac, spikewidth
    NONSPECIFIC_CURRENT i
}

UNITS {
    (mV) = (millivolt)
    (nA) = (nanoamp)
    (uS) = (microsiemens)
}

PARAMETER {
    vthresh = -55 (mV)
    vreset = -65 (mV)
    trefrac = 2.0 (ms)
    spikewidth = 0.05 (ms)
    gon = 1e4 (uS)
}

ASSIGNED {
    v (mV)
    i (nA)
    grefrac (uS)
}

INITIAL {
    grefrac = 0
    net_send(0, 4)
}

BREAKPOINT {
    i = grefrac*(v - vreset)
}

NET_RECEIVE (weight) {
    if (flag == 1) {
        net_event(t)
        net_send(spikewidth, 2)
    } else if (flag == 2) {
        v = vreset
        grefrac = gon
        net_send(trefrac - spikewidth, 3)
    } else if (flag == 3) {
        grefrac = 0
    } else if (flag == 4) {
        WATCH (v > vthresh) 1
    }
}
