: NEURON's built-in IntFire1, written for nmlcell from its documented
: rules: a leaky integrator m (time constant tau) that only changes at
: events; an event adds its weight, and when m exceeds 1 the cell fires,
: ignores events for refrac ms (m shown as 2), then restarts from m = 0.
NEURON {
    ARTIFICIAL_CELL IntFire1
    RANGE tau, refrac, m
}
PARAMETER {
    tau = 10 (ms)
    refrac = 5 (ms)
}
ASSIGNED {
    m
    t0 (ms)
    refractory
}
INITIAL {
    m = 0
    t0 = t
    refractory = 0
}
NET_RECEIVE(w) {
    if (flag == 0) {
        if (refractory == 0) {
            m = m*exp(-(t - t0)/tau) + w
            t0 = t
            if (m > 1) {
                refractory = 1
                m = 2
                net_send(refrac, 1)
                net_event(t)
            }
        }
    } else {
        : the end of the refractory period
        t0 = t
        refractory = 0
        m = 0
    }
}
