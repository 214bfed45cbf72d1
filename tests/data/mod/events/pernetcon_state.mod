: NET_RECEIVE with per-NetCon state (tmgsyn style): refused with its line
NEURON { POINT_PROCESS pnc  NONSPECIFIC_CURRENT i }
ASSIGNED { v (mV) i (nA) }
STATE { g }
BREAKPOINT { i = g*v }
NET_RECEIVE (w, y) {
    INITIAL { y = 0 }
    g = g + w*y
    y = y + 1
}
