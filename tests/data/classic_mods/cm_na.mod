TITLE Sodium channel in the style of Mainen and Sejnowski (SOLVE of a PROCEDURE)

COMMENT
Gates advanced by an exact exponential step in a PROCEDURE (no METHOD);
rates with trap0 guards, a temperature factor and a voltage shift.
ENDCOMMENT

INDEPENDENT {t FROM 0 TO 1 WITH 1 (ms)}

NEURON {
    SUFFIX cm_na
    USEION na READ ena WRITE ina
    RANGE m, h, gna, gbar, vshift
    GLOBAL tha, thi1, thi2, qa, qi, qinf, thinf
    GLOBAL minf, hinf, mtau, htau
    GLOBAL Ra, Rb, Rd, Rg, q10, temp, vmin, vmax
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 1000 (pS/um2)
    vshift = -5 (mV)
    tha = -35 (mV)
    qa = 9 (mV)
    Ra = 0.182 (/ms)
    Rb = 0.124 (/ms)
    thi1 = -50 (mV)
    thi2 = -75 (mV)
    qi = 5 (mV)
    thinf = -65 (mV)
    qinf = 6.2 (mV)
    Rg = 0.0091 (/ms)
    Rd = 0.024 (/ms)
    temp = 23 (degC)
    q10 = 2.3
    vmin = -120 (mV)
    vmax = 100 (mV)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    dt (ms)
    ina (mA/cm2)
    gna (pS/um2)
    ena (mV)
    minf
    hinf
    mtau (ms)
    htau (ms)
    tadj
}

STATE { m h }

LOCAL mexp, hexp

INITIAL {
    trates(v + vshift)
    m = minf
    h = hinf
}

BREAKPOINT {
    SOLVE states
    gna = tadj*gbar*m*m*m*h
    ina = (1e-4)*gna*(v - ena)
}

PROCEDURE states() {
    trates(v + vshift)
    m = m + mexp*(minf - m)
    h = h + hexp*(hinf - h)
    VERBATIM
    return 0;
    ENDVERBATIM
}

PROCEDURE trates(vm (mV)) {
    LOCAL tinc
    TABLE minf, mexp, hinf, hexp
    DEPEND dt, celsius, temp, Ra, Rb, Rd, Rg, tha, thi1, thi2, qa, qi, qinf
    FROM vmin TO vmax WITH 199

    rates(vm)
    tadj = q10^((celsius - temp)/10)
    tinc = -dt*tadj
    mexp = 1 - exp(tinc/mtau)
    hexp = 1 - exp(tinc/htau)
}

PROCEDURE rates(vm (mV)) {
    LOCAL a, b
    a = trap0(vm, tha, Ra, qa)
    b = trap0(-vm, -tha, Rb, qa)
    mtau = 1/(a + b)
    minf = a/(a + b)

    a = trap0(vm, thi1, Rd, qi)
    b = trap0(-vm, -thi2, Rg, qi)
    htau = 1/(a + b)
    hinf = 1/(1 + exp((vm - thinf)/qinf))
}

FUNCTION trap0(v (mV), th (mV), a (/ms), q (mV)) (/ms) {
    if (fabs((v - th)/q) > 1e-6) {
        trap0 = a*(v - th)/(1 - exp(-(v - th)/q))
    } else {
        trap0 = a*q
    }
}
