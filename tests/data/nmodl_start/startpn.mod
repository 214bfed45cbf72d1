: Test mechanism for nmlcell (written for its test suite): a START value on
: a state that also has a PARAMETER <state>0 (probe of which one wins).
NEURON {
    SUFFIX startpn
    NONSPECIFIC_CURRENT i
}

PARAMETER {
    g = 0.002 (S/cm2)
    a0 = 0.25
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
}

STATE {
    a START 0.6
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    i = g * a * (v + 70)
}

DERIVATIVE states {
    a' = (0.1 - a) / 5
}
