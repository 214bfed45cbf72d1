: No current: nocmodl runs this BREAKPOINT once per step in the state
: phase (new v), never in finitialize. Counts the steps, and the steps
: on which v rose, from the v of the previous call.
NEURON {
    SUFFIX counter
    RANGE n, up, vlast
}
UNITS { (mV) = (millivolt) }
ASSIGNED {
    v (mV)
    n
    up
    vlast (mV)
}
INITIAL { vlast = v }
BREAKPOINT {
    n = n + 1
    if (v > vlast) {
        up = up + 1
    }
    vlast = v
}
