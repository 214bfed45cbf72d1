: A current that is a STATE, relaxing towards a voltage-dependent value
: (a current advanced by a DERIVATIVE block, as in pyNN's expisyn).
NEURON {
    SUFFIX statecur
    NONSPECIFIC_CURRENT i
    RANGE a, e, tau
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    a = 0.0005 (S/cm2)
    e = -70 (mV)
    tau = 3 (ms)
}
ASSIGNED { v (mV) }
STATE { i (mA/cm2) }
INITIAL { i = 0 }
BREAKPOINT {
    SOLVE states METHOD cnexp
}
DERIVATIVE states {
    i' = (a * (v - e) - i) / tau
}
