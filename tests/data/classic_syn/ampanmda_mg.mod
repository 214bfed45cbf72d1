: AMPA + NMDA conductances on one point process, each a difference of
: exponentials normalised to peak 1 (Exp2Syn's form), the NMDA one under a
: Jahr & Stevens (1990) magnesium block.  Written for nmlcell's tests.
NEURON {
    POINT_PROCESS AmpaNmdaMg
    RANGE tau1a, tau2a, tau1n, tau2n, e, mg, ratio, ga, gn, i
    NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) (mV) = (millivolt) (uS) = (microsiemens) (mM) = (milli/liter) }
PARAMETER {
    tau1a = 0.2 (ms)
    tau2a = 1.7 (ms)
    tau1n = 2.0 (ms)
    tau2n = 60 (ms)
    e = 0 (mV)
    mg = 1 (mM)
    ratio = 0.8
}
ASSIGNED { v (mV) i (nA) ga (uS) gn (uS) fa fn }
STATE { Ra Da Rn Dn }
INITIAL {
    LOCAL tp
    Ra = 0  Da = 0  Rn = 0  Dn = 0
    tp = (tau1a*tau2a)/(tau2a - tau1a)*log(tau2a/tau1a)
    fa = 1/(-exp(-tp/tau1a) + exp(-tp/tau2a))
    tp = (tau1n*tau2n)/(tau2n - tau1n)*log(tau2n/tau1n)
    fn = 1/(-exp(-tp/tau1n) + exp(-tp/tau2n))
}
BREAKPOINT {
    SOLVE kin METHOD cnexp
    ga = Da - Ra
    gn = (Dn - Rn)*mgblock(v)
    i = (ga + gn)*(v - e)
}
DERIVATIVE kin {
    Ra' = -Ra/tau1a
    Da' = -Da/tau2a
    Rn' = -Rn/tau1n
    Dn' = -Dn/tau2n
}
FUNCTION mgblock(v (mV)) {
    mgblock = 1/(1 + exp(0.062*-v)*mg/3.57)
}
NET_RECEIVE(weight (uS)) {
    Ra = Ra + weight*fa
    Da = Da + weight*fa
    Rn = Rn + weight*ratio*fn
    Dn = Dn + weight*ratio*fn
}
