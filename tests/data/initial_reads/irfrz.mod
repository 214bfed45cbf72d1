: Test mechanism for nmlcell (written for its test suite): an ASSIGNED gx
: that only INITIAL sets, reading its own value first (gx = gx + gbase:
: 0 + gbase after NEURON allocates it), and a state a that INITIAL sets
: from b before it reassigns b.
NEURON {
    SUFFIX irfrz
    NONSPECIFIC_CURRENT i
    RANGE gx, gbase
}

PARAMETER {
    gbase = 0.0005
    e = -75
    tau = 5
}

ASSIGNED {
    v
    i
    gx
}

STATE { a b START 0.25 }

INITIAL {
    gx = gx + gbase
    a = b
    b = b * 3
}

BREAKPOINT {
    SOLVE st METHOD cnexp
    i = (gx + 0.001 * (a + 2 * b)) * (v - e)
}

DERIVATIVE st {
    a' = -a / tau
    b' = (0.1 - b) / tau
}
