: NET_RECEIVE assignments that read each other: simultaneous semantics
NEURON { POINT_PROCESS swap  NONSPECIFIC_CURRENT i }
ASSIGNED { v (mV) i (nA) }
STATE { a b c }
BREAKPOINT { i = 0*v }
NET_RECEIVE (w) {
    a = b + w
    c = a * 2
}
