: An adaptive exponential integrate-and-fire neuron (Brette and Gerstner 2005)
: written as a point process on a passive section, for nmlcell's tests.
: The leak is the section's pas; this mechanism adds the exponential term,
: the adaptation current w and, after a spike, a clamp conductance that
: holds v at vreset for the refractory period. Self-events: 4 arms the
: threshold WATCH, 1 starts a spike, 2 ends it, 3 ends the refractory period.
: A NetCon's event (flag 0) moves v by its weight.

NEURON {
    POINT_PROCESS AdExSE
    RANGE vthresh, vreset, vspike, vpeak, trefrac, gon, spikewidth
    RANGE a, b, tauw, EL, GL, delta, w, grefrac
    NONSPECIFIC_CURRENT i
}

UNITS {
    (mV) = (millivolt)
    (nA) = (nanoamp)
    (uS) = (microsiemens)
}

PARAMETER {
    vthresh = -50 (mV)
    vreset = -58 (mV)
    vspike = -40 (mV)
    vpeak = 20 (mV)
    trefrac = 2.5 (ms)
    gon = 1e4 (uS)
    spikewidth = 0.3123 (ms)
    a = 0.004 (uS)
    b = 0.08 (nA)
    tauw = 120 (ms)
    EL = -70 (mV)
    GL = 0.03 (uS)
    delta = 2 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    grefrac (uS)
}

STATE {
    w (nA)
}

INITIAL {
    w = 0
    grefrac = 0
    net_send(0, 4)
}

BREAKPOINT {
    SOLVE adapt METHOD cnexp
    i = w - GL*delta*exp((v - vthresh)/delta) + grefrac*(v - vreset)
}

DERIVATIVE adapt {
    w' = (a*(v - EL) - w)/tauw
}

NET_RECEIVE (weight (mV)) {
    if (flag == 0) {
        v = v + weight
    } else if (flag == 1) {
        v = vpeak
        w = w + b
        net_event(t)
        net_send(spikewidth, 2)
    } else if (flag == 2) {
        v = vreset
        grefrac = gon
        if (trefrac > spikewidth) {
            net_send(trefrac - spikewidth, 3)
        } else {
            grefrac = 0
        }
    } else if (flag == 3) {
        grefrac = 0
    } else if (flag == 4) {
        WATCH (v > vspike) 1
    }
}
