: A periodic spike source whose self-events fall between steps: the
: first at `start`, then one every `invl` ms (net_send from INITIAL and
: from NET_RECEIVE's flag-1 branch, net_event at each).  Written for
: nmlcell's tests of exact event times.
NEURON {
    ARTIFICIAL_CELL Pacer
    RANGE start, invl
}
PARAMETER {
    start = 2.0123 (ms)
    invl = 7.31 (ms)
}
INITIAL {
    net_send(start, 1)
}
NET_RECEIVE (w) {
    if (flag == 1) {
        net_event(t)
        net_send(invl, 1)
    }
}
