TITLE Muscarinic K current in the style of Mainen and Sejnowski (PROCEDURE states, q10)

INDEPENDENT {t FROM 0 TO 1 WITH 1 (ms)}

NEURON {
    SUFFIX cm_km
    USEION k READ ek WRITE ik
    RANGE n, gk, gbar
    GLOBAL Ra, Rb, ninf, ntau, q10, temp, tha, qa
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 30 (pS/um2)
    tha = -30 (mV)
    qa = 9 (mV)
    Ra = 0.001 (/ms)
    Rb = 0.001 (/ms)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    dt (ms)
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
    trates(v)
    n = ninf
}

BREAKPOINT {
    SOLVE states
    gk = tadj*gbar*n
    ik = (1e-4)*gk*(v - ek)
}

PROCEDURE states() {
    trates(v)
    n = n + nexp*(ninf - n)
    VERBATIM
    return 0;
    ENDVERBATIM
}

PROCEDURE trates(v (mV)) {
    LOCAL tinc, a, b
    TABLE ninf, nexp DEPEND dt, celsius, temp, Ra, Rb, tha, qa FROM -120 TO 100 WITH 220
    a = Ra*(v - tha)/(1 - exp(-(v - tha)/qa))
    b = -Rb*(v - tha)/(1 - exp((v - tha)/qa))
    tadj = q10^((celsius - temp)/10)
    ntau = 1/tadj/(a + b)
    ninf = a/(a + b)
    tinc = -dt*tadj
    nexp = 1 - exp(tinc/ntau)
}
