COMMENT
A NONLINEAR block SOLVEd in BREAKPOINT with METHOD newton: two STATEs,
equations nonlinear in them, coefficients depending on v. NEURON solves it
by Newton's method in its state phase, from the states' previous values.
ENDCOMMENT
NEURON { SUFFIX nl2  NONSPECIFIC_CURRENT i  RANGE g, e }
PARAMETER { g = 2e-3 (S/cm2) e = -70 (mV) }
STATE { a b }
ASSIGNED { v (mV) i (mA/cm2) c }
INITIAL { a = 0.5  b = 0.5 }
BREAKPOINT {
    SOLVE nl METHOD newton
    i = g*a*(v - e)
}
NONLINEAR nl {
    c = 1 + exp(-(v + 40)/10)
    ~ a + b*b = 1
    ~ a*c = b
}
