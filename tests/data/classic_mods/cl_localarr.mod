TITLE K current whose BREAKPOINT uses a LOCAL array declared in the block

NEURON {
    SUFFIX cl_localarr
    USEION k READ ek WRITE ik
    RANGE gbar
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.01 (mho/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    ninf
    ntau (ms)
}

STATE { n }

INITIAL {
    rates(v)
    n = ninf
}

BREAKPOINT {
    LOCAL np[3]
    SOLVE states METHOD cnexp
    np[0] = n
    np[1] = np[0]*n
    np[2] = np[1]*np[1]
    ik = gbar*np[2]*(v - ek)
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n)/ntau
}

UNITSOFF
PROCEDURE rates(v (mV)) {
    ninf = 1/(1 + exp(-(v + 35)/10))
    ntau = 1 + 4*exp(-((v + 40)/20)^2)
}
UNITSON
