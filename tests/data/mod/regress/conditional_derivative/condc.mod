: cnexp, a derivative assigned by IF/ELSE (each branch one cnexp update in place);
: the second state's IF reads the state itself
NEURON { SUFFIX condc NONSPECIFIC_CURRENT i RANGE g, vth, tau1, tau2 }
PARAMETER { g = 2e-5 (S/cm2) vth = -55 (mV) tau1 = 1 (ms) tau2 = 5 (ms) }
ASSIGNED { i (mA/cm2) }
STATE { s r }
INITIAL { s = 0  r = 0.2 }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = g*(s + r)*(v + 80)
}
DERIVATIVE states {
    if (v > vth) { s' = (1 - s)/tau1 } else { s' = -s/tau2 }
    if (r > 0.5) {
        r' = -r/tau2
    } else if (v > vth) {
        r' = (1 - r)/tau1
    } else {
        r' = 0.01
    }
}
