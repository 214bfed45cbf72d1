: A test mechanism whose PARAMETER defaults have more than 6 significant
: digits (nocmodl holds them to 6, C's %g), written for nmlcell's tests.
NEURON {
    SUFFIX nocm_k
    NONSPECIFIC_CURRENT i
    RANGE gbar, vhalf, erev
    GLOBAL slope, tau0
}
UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}
CONSTANT {
    cfull = 1.23456789
}
PARAMETER {
    gbar = 0.0123456789 (S/cm2) <0,1e9>
    vhalf = -45.6789012 (mV)
    erev = -77.7777777 (mV)
    slope = 5.12345678 (mV)
    tau0 = 1.98765432 (ms)
}
ASSIGNED { v (mV) i (mA/cm2) minf }
STATE { m }
INITIAL {
    rates(v)
    m = minf
}
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar * m * (v - erev)
}
DERIVATIVE states {
    rates(v)
    m' = (minf - m) / (tau0 * cfull / 1.23456789)
}
PROCEDURE rates(v (mV)) {
    minf = 1 / (1 + exp(-(v - vhalf) / slope))
}
