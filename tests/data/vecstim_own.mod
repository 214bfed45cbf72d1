: A spike train read from a hoc Vector, in the form most network models
: ship (an ARTIFICIAL_CELL named VecStim whose next time is read in C).
: Written for nmlcell's tests: nmlcell refuses it and names nmlcell.VecStim.
NEURON {
    ARTIFICIAL_CELL VecStim
}
ASSIGNED { k  tnext (ms)  vec }
INITIAL {
    k = 0
    next_time()
    if (k > 0) { net_send(tnext - t, 1) }
}
NET_RECEIVE (w) {
    if (flag == 1) {
        net_event(t)
        next_time()
        if (k > 0) { net_send(tnext - t, 1) }
    }
}
PROCEDURE next_time() {
VERBATIM
    /* k: the index of the next time in the Vector kept in vec; -1 after the last */
    {
        void* v = *((void**)(&vec));
        if (v && k >= 0 && (int)k < vector_capacity(v)) {
            tnext = vector_vec(v)[(int)k];
            k += 1.;
        } else {
            k = -1.;
        }
    }
ENDVERBATIM
}
PROCEDURE play() {
VERBATIM
    *((void**)(&vec)) = ifarg(1) ? vector_arg(1) : (void*)0;
ENDVERBATIM
}
