: A calcium pool (WRITE cai) driven by ica
NEURON {
    SUFFIX ca_pool
    USEION ca READ ica WRITE cai
    RANGE tau, cinf, k
}
UNITS { (mA) = (milliamp) (mM) = (milli/liter) }
PARAMETER { tau = 20 (ms) cinf = 1e-4 (mM) k = 0.5 (mM cm2/mA/ms) }
ASSIGNED { ica (mA/cm2) }
STATE { cai (mM) }
INITIAL { cai = cinf }
BREAKPOINT { SOLVE pool METHOD cnexp }
DERIVATIVE pool {
    cai' = -k*ica + (cinf - cai)/tau
}
