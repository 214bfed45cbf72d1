: cnexp, nested IFs, no ELSE (the state is left unchanged there), a
: constant derivative (b = 0), and a second equation reading the first
: state after its update in place
NEURON { SUFFIX condn NONSPECIFIC_CURRENT i RANGE g, vth, tau1 }
PARAMETER { g = 2e-5 (S/cm2) vth = -55 (mV) tau1 = 2 (ms) tau2 = 3 (ms) }
ASSIGNED { i (mA/cm2) }
STATE { s q }
INITIAL { s = 0  q = 0 }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = g*(s + q)*(v + 80)
}
DERIVATIVE states {
    LOCAL u
    if (v > vth) {
        if (s < 0.5) { s' = (1 - s)/tau1 } else { s' = 0.05 }
    }
    u = 2*s
    q' = (u - q)/tau2
}
