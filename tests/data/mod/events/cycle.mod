: two assignments that each read the other's old value (a scratch state breaks the cycle)
NEURON { POINT_PROCESS cyc  NONSPECIFIC_CURRENT i }
ASSIGNED { v (mV) i (nA) }
STATE { a b }
BREAKPOINT { i = 0*v }
NET_RECEIVE (w) {
    LOCAL tmp
    tmp = a
    a = b + w
    b = tmp
}
