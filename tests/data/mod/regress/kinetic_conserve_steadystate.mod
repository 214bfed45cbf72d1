: a two-state KINETIC scheme with CONSERVE, started at its steady state
NEURON { SUFFIX kcs  USEION k READ ek WRITE ik  RANGE gbar }
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
PARAMETER { gbar = 0.01 (S/cm2) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) a (/ms) b (/ms) }
STATE { C O }
INITIAL { SOLVE kin STEADYSTATE sparse }
BREAKPOINT { SOLVE kin METHOD sparse  ik = gbar*O*(v - ek) }
KINETIC kin {
    rates(v)
    ~ C <-> O (a, b)
    CONSERVE C + O = 1
}
PROCEDURE rates(v (mV)) {
    a = 0.1*exp(v/20)
    b = 0.05*exp(-v/30)
}
