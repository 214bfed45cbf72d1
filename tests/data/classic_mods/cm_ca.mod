TITLE High-voltage-activated Ca current in the style of Mainen and Sejnowski (efun guard)

INDEPENDENT {t FROM 0 TO 1 WITH 1 (ms)}

NEURON {
    SUFFIX cm_ca
    USEION ca READ eca WRITE ica
    RANGE m, h, gca, gbar, vshift
    GLOBAL minf, hinf, mtau, htau, q10, temp
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 2 (pS/um2)
    vshift = 0 (mV)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    dt (ms)
    ica (mA/cm2)
    gca (pS/um2)
    eca (mV)
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
    gca = tadj*gbar*m*m*h
    ica = (1e-4)*gca*(v - eca)
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
    LOCAL a, b, tinc
    TABLE minf, mexp, hinf, hexp DEPEND dt, celsius, temp FROM -120 TO 100 WITH 220
    UNITSOFF
    a = 0.055*9.5*efun(-(vm + 27)/3.8)
    b = 0.94*exp((-75 - vm)/17)
    mtau = 1/(a + b)
    minf = a/(a + b)
    a = 0.000457*exp((-13 - vm)/50)
    b = 0.0065/(exp((-vm - 15)/28) + 1)
    htau = 1/(a + b)
    hinf = a/(a + b)
    UNITSON
    tadj = q10^((celsius - temp)/10)
    tinc = -dt*tadj
    mexp = 1 - exp(tinc/mtau)
    hexp = 1 - exp(tinc/htau)
}

FUNCTION efun(z) {
    if (fabs(z) < 1e-4) {
        efun = 1 - z/2
    } else {
        efun = z/(exp(z) - 1)
    }
}
