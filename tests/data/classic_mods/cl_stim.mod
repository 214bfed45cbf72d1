TITLE Two current steps as an ELECTRODE_CURRENT point process

NEURON {
    POINT_PROCESS cl_stim
    RANGE del1, dur1, amp1, del2, dur2, amp2, i
    ELECTRODE_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
}

PARAMETER {
    del1 = 5 (ms)
    dur1 = 20 (ms)
    amp1 = 0.2 (nA)
    del2 = 40 (ms)
    dur2 = 30 (ms)
    amp2 = 0.5 (nA)
}

ASSIGNED {
    i (nA)
}

INITIAL {
    i = 0
}

BREAKPOINT {
    at_time(del1)
    at_time(del1 + dur1)
    at_time(del2)
    at_time(del2 + dur2)
    if (t >= del1 && t < del1 + dur1) {
        i = amp1
    } else if (t >= del2 && t < del2 + dur2) {
        i = amp2
    } else {
        i = 0
    }
}
