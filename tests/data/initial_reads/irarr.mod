: Test mechanism for nmlcell (written for its test suite): two calcium
: compartments ca[0], ca[1] behind an ASSIGNED cai the mechanism writes.
: INITIAL sets ca[1] from cai before it reassigns cai (the ion's value),
: then cai from a PARAMETER, then ca[0] from the new cai.
NEURON {
    SUFFIX irarr
    USEION ca READ cai, ica WRITE cai
    NONSPECIFIC_CURRENT i
    RANGE g, cab
}

PARAMETER {
    g = 0.001
    e = -70
    tau = 10
    cab = 0.0002
}

ASSIGNED {
    v
    i
    cai
    ica
}

STATE { ca[2] }

INITIAL {
    ca[1] = cai * 3
    cai = cab
    ca[0] = cai
}

BREAKPOINT {
    SOLVE st METHOD sparse
    i = g * (ca[1] / (ca[1] + 0.0001) + cai / (cai + 0.0001)) * (v - e)
}

KINETIC st {
    ~ ca[0] <-> ca[1] (1 / tau, 1 / tau)
    cai = ca[0]
}
