: A current-based exponential synapse: the current itself is the STATE,
: a NetCon's weight (nA) adds to it.  Written for nmlcell's tests.
NEURON {
    POINT_PROCESS ISynExp
    RANGE tau
    NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) }
PARAMETER { tau = 4 (ms) }
STATE { i (nA) }
INITIAL { i = 0 }
BREAKPOINT { SOLVE st METHOD cnexp }
DERIVATIVE st { i' = -i/tau }
NET_RECEIVE(weight (nA)) { i = i - weight }
