COMMENT
A potassium-like gate whose rate functions read their own name, as NEURON
allows (the FUNCTION's name is a local double holding the result so far):
a cubic in Horner form built in a FROM loop, and a value halved in place.
ENDCOMMENT

NEURON {
    SUFFIX fself
    USEION k READ ek WRITE ik
    RANGE gbar
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.036 (S/cm2)
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
    SOLVE states METHOD cnexp
    ik = gbar*n*n*n*n*(v - ek)
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n)/ntau
}

PROCEDURE rates(v (mV)) {
    ninf = 1/(1 + exp(-(v + 45)/9))
    ntau = taupoly((v + 50)/40)
}

FUNCTION taupoly(x) {
    LOCAL i
    taupoly = 0.3
    FROM i = 0 TO 2 {
        taupoly = taupoly*x + 0.2*(i + 1)
    }
    taupoly = 1 + taupoly*taupoly
    if (taupoly > 8) {
        taupoly = taupoly/2
    }
}
