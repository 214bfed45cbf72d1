: Short-term depression and facilitation (Tsodyks, Pawelzik & Markram 1998,
: with facilitation u), one conductance g for all NetCons; each NetCon keeps
: its own resources in the NET_RECEIVE arguments (per-NetCon state).
: Written for nmlcell's tests.
NEURON {
    POINT_PROCESS TMNetCon
    RANGE e, i, tau, trec, tfac, U, u_init
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    e = 0 (mV)
    tau = 2.5 (ms)
    trec = 120 (ms)
    tfac = 400 (ms)
    U = 0.2 (1)
    u_init = 0.1 (1)
}

ASSIGNED {
    v (mV)
    i (nA)
    free
}

STATE {
    g (uS)
}

INITIAL {
    g = 0
}

BREAKPOINT {
    SOLVE decay METHOD cnexp
    i = g*(v - e)
}

DERIVATIVE decay {
    g' = -g/tau
}

NET_RECEIVE(w (uS), act, inact, u, tlast (ms)) {
    LOCAL dt1
    INITIAL {
        act = 0
        inact = 0
        u = u_init
        tlast = t
    }
    dt1 = t - tlast
    : resources move active -> inactive (tau) -> free (trec)
    inact = inact*exp(-dt1/trec) + act*(exp(-dt1/tau) - exp(-dt1/trec))/(tau/trec - 1)
    act = act*exp(-dt1/tau)
    free = 1 - act - inact
    if (tfac > 0) {
        u = u*exp(-dt1/tfac)
        state_discontinuity(u, u + U*(1 - u))
    } else {
        u = U
    }
    state_discontinuity(g, g + w*free*u)
    act = act + free*u
    tlast = t
}
