TITLE Delayed rectifier in the style of Mainen and Sejnowski (cnexp, FUNCTIONs with units)

NEURON {
    SUFFIX cm_kv
    USEION k READ ek WRITE ik
    RANGE n, gk, gbar
    GLOBAL ninf, ntau, tha, qa, Ra, Rb, temp, q10
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 150 (pS/um2)
    tha = 25 (mV)
    qa = 9 (mV)
    Ra = 0.02 (/ms)
    Rb = 0.002 (/ms)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ik (mA/cm2)
    ek (mV)
    gk (pS/um2)
    ninf
    ntau (ms)
    tadj
}

STATE { n }

INITIAL {
    rates(v)
    n = ninf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gk = tadj*gbar*n
    ik = (1e-4)*gk*(v - ek)
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n)/ntau
}

PROCEDURE rates(vm (mV)) {
    LOCAL a, b
    a = alpha(vm)
    b = beta(vm)
    tadj = q10^((celsius - temp)/10 (degC))
    ntau = 1/tadj/(a + b)
    ninf = a/(a + b)
}

FUNCTION alpha(vm (mV)) (/ms) {
    alpha = Ra*efun_v(vm - tha, qa)
}

FUNCTION beta(vm (mV)) (/ms) {
    beta = Rb*efun_v(tha - vm, qa)
}

: x/(1 - exp(-x/q)), with its limit q at x = 0
FUNCTION efun_v(x (mV), q (mV)) (mV) {
    if (fabs(x/q) < 1e-6) {
        efun_v = q*(1 + x/q/2)
    } else {
        efun_v = x/(1 - exp(-x/q))
    }
}
