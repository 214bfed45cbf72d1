TITLE Ih with calcium-dependent upregulation in the style of Destexhe (KINETIC sparse)

NEURON {
    SUFFIX dx_ih
    NONSPECIFIC_CURRENT ih
    USEION ca READ cai
    RANGE ghbar, h_inf, tau_s, m
    GLOBAL eh, k2, cac, k4, Pc, nca, nexp, ginc, taum
}

UNITS {
    (molar) = (1/liter)
    (mM) = (millimolar)
    (mA) = (milliamp)
    (mV) = (millivolt)
    (msM) = (ms mM)
}

PARAMETER {
    eh = -40 (mV)
    ghbar = 2e-4 (mho/cm2)
    cac = 0.002 (mM)
    k2 = 0.0004 (1/ms)
    Pc = 0.01
    k4 = 0.001 (1/ms)
    nca = 4
    nexp = 1
    ginc = 2
    taum = 20 (ms)
}

STATE { c1 o1 o2 p0 p1 }

ASSIGNED {
    v (mV)
    celsius (degC)
    cai (mM)
    ih (mA/cm2)
    h_inf
    tau_s (ms)
    alpha (1/ms)
    beta (1/ms)
    k1ca (1/ms)
    k3p (1/ms)
    m
    tadj
}

BREAKPOINT {
    SOLVE ihkin METHOD sparse
    m = o1 + ginc*o2
    ih = ghbar*m*(v - eh)
}

KINETIC ihkin {
    evaluate_fct(v, cai)
    ~ c1 <-> o1 (alpha, beta)
    ~ p0 <-> p1 (k1ca, k2)
    ~ o1 + p1 <-> o2 (k3p, k4)
    CONSERVE p0 + p1 = 1
    CONSERVE c1 + o1 + o2 = 1
}

INITIAL {
    tadj = 3.0^((celsius - 36 (degC))/10 (degC))
    evaluate_fct(v, cai)
    c1 = 1 - h_inf
    o1 = h_inf
    o2 = 0
    p0 = 1
    p1 = 0
}

UNITSOFF
PROCEDURE evaluate_fct(v (mV), cai (mM)) {
    h_inf = 1/(1 + exp((v + 75)/5.5))
    tau_s = (taum + 1000/(exp((v + 71.5)/14.2) + exp(-(v + 89)/11.6)))/tadj
    alpha = h_inf/tau_s
    beta = (1 - h_inf)/tau_s
    k1ca = k2*(cai/cac)^nca
    k3p = k4*(p1/Pc)^nexp
}
UNITSON
