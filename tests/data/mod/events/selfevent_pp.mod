: a POINT_PROCESS with a delayed self-event: refused with its line
NEURON { POINT_PROCESS sep  NONSPECIFIC_CURRENT i }
ASSIGNED { v (mV) i (nA) }
STATE { g }
INITIAL { net_send(5, 1) }
BREAKPOINT { i = g*v }
NET_RECEIVE (w) {
    if (flag == 1) { g = 1 } else { g = g + w }
}
