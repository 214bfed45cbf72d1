: A calcium pool on derivimplicit with a nonlinear removal (k ca^2), whose
: DERIVATIVE block assigns the ion's cai (cai = ca) and another value (w):
: NEURON evaluates the block once more at the new states after its Newton
: iterations, so both are functions of the new ca (measured: cai = ca and
: w = ca*ca exactly at every step)
NEURON {
    SUFFIX nlcad
    USEION ca READ ica WRITE cai
    RANGE ca, w, k
}
UNITS { (mM) = (milli/liter) (mA) = (milliamp) (um) = (micron) FARADAY = (faraday) (coulomb) }
PARAMETER { depth = 0.1 (um) taur = 200 (ms) cainf = 1e-4 (mM) k = 50 (/mM/ms) }
STATE { ca (mM) }
ASSIGNED { ica (mA/cm2) cai (mM) drive (mM/ms) w (mM2) }
INITIAL {
    ca = cainf
    cai = ca
    w = ca*ca
}
BREAKPOINT { SOLVE pool METHOD derivimplicit }
DERIVATIVE pool {
    drive = -(10000)*ica/(2*FARADAY*depth)
    if (drive <= 0) { drive = 0 }
    ca' = drive + (cainf - ca)/taur - k*ca*ca
    cai = ca
    w = ca*ca
}
