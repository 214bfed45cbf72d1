: An AMPA/NMDA synapse in the style of the Blue Brain "ProbAMPANMDA"
: synapses with the release made certain (no random numbers): per-NetCon
: Tsodyks-Markram resources R and utilisation u, two normalised
: difference-of-exponentials conductances, an NMDA magnesium block.
: Written for nmlcell's tests.
NEURON {
    POINT_PROCESS ProbANDet
    RANGE tau_r_AMPA, tau_d_AMPA, tau_r_NMDA, tau_d_NMDA, Use, Dep, Fac, u0, e, mg, ratio
    RANGE g_AMPA, g_NMDA, g, i
    NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) (mM) = (milli/liter) }
PARAMETER {
    tau_r_AMPA = 0.2 (ms)
    tau_d_AMPA = 1.7 (ms)
    tau_r_NMDA = 0.29 (ms)
    tau_d_NMDA = 43 (ms)
    Use = 0.5
    Dep = 100 (ms)
    Fac = 10 (ms)
    u0 = 0
    e = 0 (mV)
    mg = 1 (mM)
    ratio = 0.7
}
ASSIGNED { v (mV) i (nA) g_AMPA (uS) g_NMDA (uS) g (uS) fA fN }
STATE { A_AMPA B_AMPA A_NMDA B_NMDA }
INITIAL {
    LOCAL tp
    A_AMPA = 0  B_AMPA = 0  A_NMDA = 0  B_NMDA = 0
    tp = (tau_r_AMPA*tau_d_AMPA)/(tau_d_AMPA - tau_r_AMPA)*log(tau_d_AMPA/tau_r_AMPA)
    fA = 1/(-exp(-tp/tau_r_AMPA) + exp(-tp/tau_d_AMPA))
    tp = (tau_r_NMDA*tau_d_NMDA)/(tau_d_NMDA - tau_r_NMDA)*log(tau_d_NMDA/tau_r_NMDA)
    fN = 1/(-exp(-tp/tau_r_NMDA) + exp(-tp/tau_d_NMDA))
}
BREAKPOINT {
    SOLVE st METHOD cnexp
    g_AMPA = B_AMPA - A_AMPA
    g_NMDA = (B_NMDA - A_NMDA)/(1 + 0.280112*mg*exp(-0.062*v))
    g = g_AMPA + g_NMDA
    i = g*(v - e)
}
DERIVATIVE st {
    A_AMPA' = -A_AMPA/tau_r_AMPA
    B_AMPA' = -B_AMPA/tau_d_AMPA
    A_NMDA' = -A_NMDA/tau_r_NMDA
    B_NMDA' = -B_NMDA/tau_d_NMDA
}
NET_RECEIVE(weight (uS), wA, wN, R, Pr, u, tsyn (ms)) {
    INITIAL {
        wA = weight
        wN = weight*ratio
        R = 1
        u = u0
        tsyn = t
    }
    if (Fac > 0) {
        u = u*exp(-(t - tsyn)/Fac)
    } else {
        u = Use
    }
    if (Fac > 0) {
        u = u + Use*(1 - u)
    }
    R = 1 - (1 - R)*exp(-(t - tsyn)/Dep)
    Pr = u*R
    R = R - u*R
    tsyn = t
    A_AMPA = A_AMPA + Pr*wA*fA
    B_AMPA = B_AMPA + Pr*wA*fA
    A_NMDA = A_NMDA + Pr*wN*fN
    B_NMDA = B_NMDA + Pr*wN*fN
}
