: A point process whose INITIAL sends a delayed self-event (no WATCH):
: at ton its branch switches a conductance on; a NetCon's event adds its
: weight to it; at ton + tdur a second self-event switches it off.

NEURON {
    POINT_PROCESS DelayedOn
    RANGE ton, tdur, gon, e, g
    NONSPECIFIC_CURRENT i
}

UNITS {
    (mV) = (millivolt)
    (nA) = (nanoamp)
    (uS) = (microsiemens)
}

PARAMETER {
    ton = 5.0113 (ms)
    tdur = 3.3 (ms)
    gon = 0.01 (uS)
    e = 0 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
}

INITIAL {
    g = 0
    net_send(ton, 1)
}

BREAKPOINT {
    i = g*(v - e)
}

NET_RECEIVE (weight (uS)) {
    if (flag == 0) {
        g = g + weight
    } else if (flag == 1) {
        g = g + gon
        net_send(tdur, 2)
    } else if (flag == 2) {
        g = g - gon
    }
}
