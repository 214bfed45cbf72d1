: three constructs nmlcell cannot lower: every one is listed with its line
NEURON {
    POINT_PROCESS many
    POINTER p
    NONSPECIFIC_CURRENT i
}
ASSIGNED { v (mV) i (nA) p }
BREAKPOINT { i = 0.001*v }
NET_RECEIVE (w) { i = i + w }
FUNCTION c_code() {
VERBATIM
    return 1.0;
ENDVERBATIM
}
