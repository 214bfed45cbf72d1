: GABA-B receptor with a G-protein cascade (after Destexhe et al. 1996):
: a transmitter pulse T of duration Cdur per NetCon binds receptors R
: (fraction, KINETIC with a conservation law), bound receptors make G
: protein G, the K+ conductance opens as G^n/(G^n + Kd).
: Written for nmlcell's tests.
NEURON {
    POINT_PROCESS GabaBG
    RANGE g, gmax, Erev
    NONSPECIFIC_CURRENT i
    GLOBAL Cdur, K1, K2, K3, K4, KD, n
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) (mM) = (milli/liter) }
PARAMETER {
    Cdur = 0.3 (ms)
    K1 = 0.52 (/ms mM)
    K2 = 0.0013 (/ms)
    K3 = 0.098 (/ms)
    K4 = 0.033 (/ms)
    KD = 100
    n = 4
    Erev = -95 (mV)
    gmax = 0.01 (uS)
}
ASSIGNED { v (mV) i (nA) g (uS) T (mM) }
STATE { Rf Rb G }
INITIAL { Rf = 1 Rb = 0 G = 0 T = 0 }
BREAKPOINT {
    SOLVE bind METHOD sparse
    g = gmax*G^n/(G^n + KD)
    i = g*(v - Erev)
}
KINETIC bind {
    ~ Rf <-> Rb (K1*T, K2)
    ~ G << (K3*Rb - K4*G)
    CONSERVE Rf + Rb = 1
}
NET_RECEIVE(w (mM), pulse, count) {
    if (flag == 0) {
        count = count + 1
        if (!pulse) {
            pulse = 1
            T = T + w
        }
        net_send(Cdur, count)
    }
    if (flag == count) {
        T = T - w
        pulse = 0
    }
}
