: a NetCon's event sending a self-event with a constant flag: a second
: spike within d would leave two pending, one per NetCon is kept: refused
NEURON { POINT_PROCESS sna  NONSPECIFIC_CURRENT i }
ASSIGNED { v (mV) i (nA) }
STATE { g }
BREAKPOINT { i = g*v }
NET_RECEIVE (w, n) {
    if (flag == 0) {
        g = g + w
        net_send(2, 1)
    } else {
        g = g - w
    }
}
