TITLE Sodium accumulation in a submembrane shell (READ ina WRITE nai, STATE nai, cnexp)

NEURON {
    SUFFIX cl_nadyn
    USEION na READ ina WRITE nai
    RANGE depth, tau, nainf
}

UNITS {
    (molar) = (1/liter)
    (mM) = (millimolar)
    (um) = (micron)
    (mA) = (milliamp)
    FARADAY = (faraday) (coulomb)
}

PARAMETER {
    depth = 0.5 (um)
    tau = 50 (ms)
    nainf = 10 (mM)
}

ASSIGNED {
    ina (mA/cm2)
}

STATE { nai (mM) }

INITIAL {
    nai = nainf
}

BREAKPOINT {
    SOLVE state METHOD cnexp
}

DERIVATIVE state {
    nai' = -(10000)*ina/(FARADAY*depth) + (nainf - nai)/tau
}
