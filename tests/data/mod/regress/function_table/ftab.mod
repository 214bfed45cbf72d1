: FUNCTION_TABLEs: data supplied at run time (tests/test_nmodl_import.py)
NEURON {
    SUFFIX ftab
    NONSPECIFIC_CURRENT i
    RANGE g, e
}

PARAMETER {
    g = 0.0001 (S/cm2)
    e = -70 (mV)
}

ASSIGNED {
    v (mV)
    i (mA/cm2)
}

STATE { m }

FUNCTION_TABLE tau(v (mV)) (ms)
FUNCTION_TABLE scale(v (mV), x)

INITIAL { m = 0.5 }

BREAKPOINT {
    SOLVE states METHOD cnexp
    i = g*m*scale(v, 1)*(v - e)
}

DERIVATIVE states {
    m' = (1 - m)/tau(v)
}
