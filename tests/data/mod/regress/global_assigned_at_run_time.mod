: A GLOBAL declared in PARAMETER and reassigned in BREAKPOINT (NEURON accepts it)
NEURON {
    SUFFIX gart
    NONSPECIFIC_CURRENT i
    GLOBAL q, tadj
    RANGE g
}
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
PARAMETER {
    g = 0.001 (S/cm2)
    q = 0
    q10 = 3
    temp = 22 (degC)
}
ASSIGNED { v (mV) celsius (degC) i (mA/cm2) tadj }
STATE { x }
INITIAL { tadj = q10^((celsius - temp)/10)  x = 0.5 }
BREAKPOINT {
    SOLVE s METHOD derivimplicit
    q = x*tadj
    i = g*q*(v - 10)
}
DERIVATIVE s { x' = (1 - x)*tadj - x }
