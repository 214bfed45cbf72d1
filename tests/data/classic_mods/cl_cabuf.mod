TITLE Ca pool with a buffer as a KINETIC scheme (nonlinear, sparse)
NEURON {
    SUFFIX cl_cabuf
    USEION ca READ ica WRITE cai
    RANGE depth, btot, kf, kb, taur, cainf
}
UNITS {
    (molar) = (1/liter)
    (mM) = (millimolar)
    (um) = (micron)
    (mA) = (milliamp)
    FARADAY = (faraday) (coulomb)
}
PARAMETER {
    depth = 0.1 (um)
    taur = 20 (ms)
    cainf = 1e-4 (mM)
    btot = 0.05 (mM)
    kf = 100 (/mM-ms)
    kb = 0.1 (/ms)
}
STATE { cai (mM) B (mM) CaB (mM) }
ASSIGNED { ica (mA/cm2) }
INITIAL {
    cai = cainf
    B = btot*kb/(kb + kf*cainf)
    CaB = btot - B
}
BREAKPOINT { SOLVE kin METHOD sparse }
KINETIC kin {
    ~ cai + B <-> CaB (kf, kb)
    ~ cai << (-(10000)*ica/(2*FARADAY*depth) + (cainf - cai)/taur)
    CONSERVE B + CaB = btot
}
