: A calcium-activated potassium current (READ cai in its state update, a
: SOLVEd PROCEDURE): it reads the cai the pool has just advanced
NEURON {
    SUFFIX kc_reader
    USEION ca READ cai
    USEION k READ ek WRITE ik
    RANGE gbar, kd
}
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) (mM) = (milli/liter) }
PARAMETER { gbar = 0.01 (S/cm2) kd = 2e-3 (mM) tau = 3 (ms) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) cai (mM) dt (ms) }
STATE { n }
INITIAL { n = cai/(cai + kd) }
BREAKPOINT {
    SOLVE gate
    ik = gbar*n*(v - ek)
}
PROCEDURE gate() {
    n = n + (1 - exp(-dt/tau))*(cai/(cai + kd) - n)
}
