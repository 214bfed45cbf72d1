: The outside calcium driven by the inside calcium (READ cai WRITE cao): a
: second writer, registered after ca_pool, so NEURON runs it first (it reads
: the cai of the step's start)
NEURON {
    SUFFIX ob_cao
    USEION ca READ cai WRITE cao
    RANGE tau, c0, gain
}
UNITS { (mM) = (milli/liter) }
PARAMETER { tau = 5 (ms) c0 = 2 (mM) gain = 500 }
ASSIGNED { cai (mM) }
STATE { cao (mM) }
INITIAL { cao = c0 }
BREAKPOINT { SOLVE out METHOD cnexp }
DERIVATIVE out {
    cao' = (c0 + gain*cai - cao)/tau
}
