TITLE Delayed rectifier in the style of the Traub NEURON ports (file LOCAL array, FROM i, own ek)

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
}

DEFINE NP 5

NEURON {
    SUFFIX tr_kdr
    USEION k WRITE ik
    RANGE gbar, ik, m
}

PARAMETER {
    gbar = 0.1 (mho/cm2)
    ek = -95 (mV)
}

ASSIGNED {
    v (mV)
    ik (mA/cm2)
    minf
    mtau (ms)
}

STATE { m }

LOCAL mp[NP]

BREAKPOINT {
    SOLVE states METHOD cnexp
    mp[0] = 1
    FROM i = 1 TO NP - 1 {
        mp[i] = mp[i - 1]*m
    }
    ik = gbar*mp[4]*(v - ek)
}

INITIAL {
    rates(v)
    m = minf
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
}

UNITSOFF
PROCEDURE rates(v (mV)) {
    minf = 1/(1 + exp((-v - 29.5)/10))
    if (v < -10) {
        mtau = 0.25 + 4.35*exp((v + 10)/10)
    } else {
        mtau = 0.25 + 4.35*exp((-v - 10)/10)
    }
}
UNITSON
