: A two-state kinetic AMPA synapse driven by square transmitter pulses of
: length Cdur (Destexhe, Mainen & Sejnowski 1994), many NetCons onto one
: instance: each NetCon's pulse is tracked in its NET_RECEIVE arguments and
: ended by a self-event (net_send) carrying the NetCon's spike count.
: Written for nmlcell's tests.
NEURON {
    POINT_PROCESS KinAMPA
    RANGE g, Erev
    NONSPECIFIC_CURRENT i
    GLOBAL Cdur, Alpha, Beta, Rinf, Rtau
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    Cdur = 1.0 (ms)
    Alpha = 1.1 (/ms)
    Beta = 0.19 (/ms)
    Erev = 0 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    Rinf
    Rtau (ms)
    active
}

STATE {
    Ron
    Roff
}

INITIAL {
    Rinf = Alpha/(Alpha + Beta)
    Rtau = 1/(Alpha + Beta)
    active = 0
}

BREAKPOINT {
    SOLVE bind METHOD cnexp
    g = Ron + Roff
    i = g*(v - Erev)
}

DERIVATIVE bind {
    Ron' = (active*Rinf - Ron)/Rtau
    Roff' = -Beta*Roff
}

NET_RECEIVE(w, pulse, count, r, tpulse (ms)) {
    if (flag == 0) {
        count = count + 1
        if (!pulse) {
            : the part of this NetCon's binding outside a pulse decays
            r = r*exp(-Beta*(t - tpulse))
            tpulse = t
            pulse = 1
            active = active + w
            state_discontinuity(Ron, Ron + r)
            state_discontinuity(Roff, Roff - r)
        }
        net_send(Cdur, count)
    }
    if (flag == count) {
        : the pulse of the latest spike ends
        r = w*Rinf + (r - w*Rinf)*exp(-(t - tpulse)/Rtau)
        tpulse = t
        active = active - w
        state_discontinuity(Ron, Ron - r)
        state_discontinuity(Roff, Roff + r)
        pulse = 0
    }
}
