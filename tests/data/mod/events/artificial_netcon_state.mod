: per-NetCon state (an argument assigned) in an ARTIFICIAL_CELL: refused
NEURON { ARTIFICIAL_CELL anc }
PARAMETER { invl = 5 (ms) }
INITIAL { net_send(invl, 1) }
NET_RECEIVE (w, n) {
    if (flag == 1) {
        net_event(t)
        net_send(invl, 1)
    } else {
        n = n + 1
    }
}
