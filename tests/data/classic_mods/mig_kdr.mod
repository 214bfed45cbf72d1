TITLE Delayed rectifier in the style of Migliore (ek given as a PARAMETER value)

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
}

PARAMETER {
    v (mV)
    ek = -90 (mV)
    celsius (degC)
    gkdrbar = 0.003 (mho/cm2)
    vhalfn = 13 (mV)
    a0n = 0.02 (/ms)
    zetan = -3 (1)
    gmn = 0.7 (1)
    nmax = 2 (1)
    q10 = 1
}

NEURON {
    SUFFIX mig_kdr
    USEION k READ ek WRITE ik
    RANGE gkdr, gkdrbar
    GLOBAL ninf, taun
}

STATE { n }

ASSIGNED {
    ik (mA/cm2)
    ninf
    gkdr
    taun
}

INITIAL {
    rates(v)
    n = ninf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gkdr = gkdrbar*n
    ik = gkdr*(v - ek)
}

FUNCTION alpn(v (mV)) {
    alpn = exp(1.e-3*zetan*(v - vhalfn)*9.648e4/(8.315*(273.16 + celsius)))
}

FUNCTION betn(v (mV)) {
    betn = exp(1.e-3*zetan*gmn*(v - vhalfn)*9.648e4/(8.315*(273.16 + celsius)))
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n)/taun
}

PROCEDURE rates(v (mV)) {
    LOCAL a, qt
    TABLE ninf, taun DEPEND celsius FROM -100 TO 100 WITH 200
    qt = q10^((celsius - 24)/10)
    a = alpn(v)
    ninf = 1/(1 + a)
    taun = betn(v)/(qt*a0n*(1 + a))
    if (taun < nmax) {taun = nmax/qt}
}
