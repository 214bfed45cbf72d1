: NET_RECEIVE's INITIAL setting a RANGE variable (shared by all NetCons,
: tsodyksmarkram.mod's t_last): refused with its line
NEURON { POINT_PROCESS nir  RANGE tl  NONSPECIFIC_CURRENT i }
ASSIGNED { v (mV) i (nA) tl (ms) }
STATE { g }
BREAKPOINT { i = g*v }
NET_RECEIVE (w) {
    INITIAL { tl = t }
    g = g + w*exp(-(t - tl))
    tl = t
}
