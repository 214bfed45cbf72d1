COMMENT
A point process whose KINETIC scheme is nonlinear (a transmitter T binding
a receptor R: ~ R + T <-> RT), with CONSERVE, on METHOD sparse: NEURON's
CONSERVE row and Newton iterations in a point process (its states are
named label.R in the composed cell).
ENDCOMMENT
NEURON {
    POINT_PROCESS ppkin
    NONSPECIFIC_CURRENT i
    RANGE g, e, tot, kf, kb, tin
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) }
PARAMETER {
    g = 0.02 (uS)
    e = 0 (mV)
    tot = 1
    kf = 2 (/ms)
    kb = 0.05 (/ms)
    tin = 0.02 (/ms)
}
ASSIGNED { v (mV) i (nA) }
STATE { R RT T }
INITIAL {
    R = tot
    RT = 0
    T = 0
}
BREAKPOINT {
    SOLVE bind METHOD sparse
    i = g*RT*(v - e)
}
KINETIC bind {
    ~ R + T <-> RT (kf, kb)
    ~ T << (tin - 0.5*T)
    CONSERVE R + RT = tot
}
