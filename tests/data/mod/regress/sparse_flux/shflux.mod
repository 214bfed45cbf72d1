COMMENT
Two calcium pools exchanging on METHOD sparse, each with a `<<` flux that
depends on its own state (a decay toward cainf, a removal): NEURON's sparse
matrix leaves a `<<` flux out of its Jacobian, and the scheme being linear
(first-order reactions) it takes a single Newton step of backward Euler.
ENDCOMMENT
NEURON {
    SUFFIX shflux
    NONSPECIFIC_CURRENT i
    RANGE c1now, g
}
UNITS { (molar) = (1/liter) (mM) = (millimolar) (mA) = (milliamp) (mV) = (millivolt) }
PARAMETER {
    kd = 0.3 (/ms)
    kout = 0.05 (/ms)
    cainf = 5e-5 (mM)
    tau = 2 (ms)
    g = 20 (S/cm2/mM)
}
ASSIGNED { v (mV) i (mA/cm2) c1now (mM) }
STATE { c1 (mM) c2 (mM) }
INITIAL {
    c1 = cainf
    c2 = cainf
}
BREAKPOINT {
    SOLVE pools METHOD sparse
    c1now = c1
    i = g*(c1 - cainf)*(v + 80)
}
KINETIC pools {
    ~ c1 << (1e-3/(1 + exp(-(v + 20)/5)) + (cainf - c1)/tau)
    ~ c1 <-> c2 (kd, kd)
    ~ c2 << (-kout*c2)
}
