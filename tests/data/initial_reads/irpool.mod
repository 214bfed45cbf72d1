: Test mechanism for nmlcell (written for its test suite): a calcium pool
: whose INITIAL first reads cai (into the state w) and then sets cai to its
: resting value cainf; w decays and scales a leak.
NEURON {
    SUFFIX irpool
    USEION ca READ ica WRITE cai
    NONSPECIFIC_CURRENT i
    RANGE g, cainf
}

PARAMETER {
    g = 0.001
    e = -70
    tau = 15
    cainf = 0.0003
}

ASSIGNED {
    v
    ica
    i
}

STATE { cai w }

INITIAL {
    w = cai * 10000
    cai = cainf
}

BREAKPOINT {
    SOLVE pool METHOD cnexp
    i = g * (w + cai / (cai + 0.0001)) * (v - e)
}

DERIVATIVE pool {
    cai' = -(cai - cainf) / tau
    w' = -w / tau
}
