COMMENT
A LINEAR block SOLVEd in BREAKPOINT (no METHOD): two STATEs, the
coefficients depend on v. NEURON solves it in its state phase.
ENDCOMMENT
NEURON { SUFFIX lin2  NONSPECIFIC_CURRENT i  RANGE g, e }
PARAMETER { g = 2e-3 (S/cm2) e = -70 (mV) }
STATE { a b }
ASSIGNED { v (mV) i (mA/cm2) k }
INITIAL { a = 0.2  b = 0.1 }
BREAKPOINT {
    SOLVE lin
    i = g*a*(v - e)
}
LINEAR lin {
    k = exp((v + 40)/10)
    ~ a + b = 1
    ~ a - k*b = 0.1*b
}
