: Test mechanism for nmlcell (written for its test suite): states whose
: value before INITIAL is a START value (n, z) or a PARAMETER <state>0 (w),
: one with neither (q: 0); INITIAL halves r (read at its START value) and
: sets s from n's START value and r's new value.
NEURON {
    SUFFIX startst
    NONSPECIFIC_CURRENT i
    RANGE gn, gw, w0
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gn = 0.004 (S/cm2)
    gw = 0.003 (S/cm2)
    en = -80 (mV)
    tn = 4 (ms)
    tw = 7 (ms)
    w0 = 0.123456789
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
}

STATE {
    n START 0.3333333
    w
    z START 0.7654321
    q
    s
    r START 0.4444444
}

INITIAL {
    r = r / 2
    s = n / 2 + r
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    i = (gn * n + gw * (w + z + q + s + r)) * (v - en)
}

DERIVATIVE states {
    n' = (1 / (1 + exp(-(v + 40) / 5)) - n) / tn
    w' = (1 / (1 + exp(-(v + 50) / 8)) - w) / tw
    z' = -z / tw
    q' = (0.2 - q) / tn
    s' = -s / tn
    r' = -r / tw
}
