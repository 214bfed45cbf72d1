: A leaky integrate-and-fire neuron with a refractory period, written as a
: point process on a passive section (the leak), for nmlcell's tests.
: At threshold v jumps to vspike (state_discontinuity); at the end of the
: spike it is set to vreset and a large conductance holds it there until
: the refractory period ends.
: Self-events: 4 arms the WATCH, 1 fires, 2 ends the spike, 3 ends the
: refractory period. A NetCon's event (flag 0) moves v by its weight
: outside the refractory period.

NEURON {
    POINT_PROCESS RefracLIF
    RANGE vthresh, vreset, vspike, trefrac, gclamp, spikewidth, g, nspikes
    NONSPECIFIC_CURRENT i
}

UNITS {
    (mV) = (millivolt)
    (nA) = (nanoamp)
    (uS) = (microsiemens)
}

PARAMETER {
    vthresh = -52 (mV)
    vreset = -63 (mV)
    vspike = 30 (mV)
    trefrac = 2 (ms)
    gclamp = 1e5 (uS)
    spikewidth = 0.0613 (ms)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    nspikes
}

INITIAL {
    g = 0
    nspikes = 0
    net_send(0, 4)
}

BREAKPOINT {
    i = g*(v - vreset)
}

NET_RECEIVE (weight (mV)) {
    if (flag == 0) {
        if (g == 0) {
            state_discontinuity(v, v + weight)
        }
    } else if (flag == 1) {
        state_discontinuity(v, vspike)
        nspikes = nspikes + 1
        net_send(spikewidth, 2)
        net_event(t)
    } else if (flag == 2) {
        state_discontinuity(v, vreset)
        g = gclamp
        if (trefrac > spikewidth) {
            net_send(trefrac - spikewidth, 3)
        } else {
            g = 0
        }
    } else if (flag == 3) {
        state_discontinuity(v, vreset)
        g = 0
    } else if (flag == 4) {
        WATCH (v > vthresh) 1
    }
}
