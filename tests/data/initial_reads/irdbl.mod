: Test mechanism for nmlcell (written for its test suite): a calcium pool
: whose INITIAL doubles the concentration it starts with (cai = cai * 2,
: cai read at the ion's value before INITIAL); a leak scaled by cai.
NEURON {
    SUFFIX irdbl
    USEION ca READ ica WRITE cai
    NONSPECIFIC_CURRENT i
    RANGE g, tau, cainf
}

PARAMETER {
    g = 0.001
    e = -70
    tau = 20
    cainf = 0.0001
    k = 0.01
}

ASSIGNED {
    v
    ica
    i
}

STATE { cai }

INITIAL {
    cai = cai * 2
}

BREAKPOINT {
    SOLVE pool METHOD cnexp
    i = g * cai / (cai + 0.0001) * (v - e)
}

DERIVATIVE pool {
    cai' = -k * ica - (cai - cainf) / tau
}
