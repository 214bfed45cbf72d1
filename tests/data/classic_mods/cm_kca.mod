TITLE Calcium-activated K current in the style of Mainen and Sejnowski (READ cai)

INDEPENDENT {t FROM 0 TO 1 WITH 1 (ms)}

NEURON {
    SUFFIX cm_kca
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE n, gk, gbar
    GLOBAL Ra, Rb, caix, ninf, ntau, q10, temp
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 10 (pS/um2)
    caix = 1
    Ra = 0.01 (/ms)
    Rb = 0.02 (/ms)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    dt (ms)
    cai (mM)
    ik (mA/cm2)
    ek (mV)
    gk (pS/um2)
    ninf
    ntau (ms)
    tadj
}

STATE { n }

LOCAL nexp

INITIAL {
    rates(cai)
    n = ninf
}

BREAKPOINT {
    SOLVE states
    gk = tadj*gbar*n
    ik = (1e-4)*gk*(v - ek)
}

PROCEDURE states() {
    rates(cai)
    n = n + nexp*(ninf - n)
    VERBATIM
    return 0;
    ENDVERBATIM
}

PROCEDURE rates(cai (mM)) {
    LOCAL a, b, tinc
    a = Ra*cai^caix
    b = Rb
    tadj = q10^((celsius - temp)/10)
    ntau = 1/tadj/(a + b)
    ninf = a/(a + b)
    tinc = -dt*tadj
    nexp = 1 - exp(tinc/ntau)
}
