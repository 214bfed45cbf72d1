: A leak with a GLOBAL (eq) and a PARAMETER that is not RANGE (q10, hence
: GLOBAL in NEURON): cell.set refuses them per region (test_cell_set_params).
NEURON {
    SUFFIX leakq
    NONSPECIFIC_CURRENT i
    RANGE g
    GLOBAL eq
}
UNITS { (mV) = (millivolt) (mA) = (milliamp) (S) = (siemens) }
PARAMETER {
    g = 1e-4 (S/cm2)
    eq = -70 (mV)
    q10 = 3
}
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g * q10 / 3 * (v - eq) }
