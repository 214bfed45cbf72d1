: A calcium current on the ion's eca
NEURON {
    SUFFIX cacur
    USEION ca READ eca WRITE ica
    RANGE gbar
}
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
PARAMETER { gbar = 2e-3 (S/cm2) }
ASSIGNED { v (mV) eca (mV) ica (mA/cm2) }
STATE { m }
INITIAL { m = minf(v) }
BREAKPOINT {
    SOLVE gate METHOD cnexp
    ica = gbar*m*m*(v - eca)
}
DERIVATIVE gate { m' = (minf(v) - m)/1.5 }
FUNCTION minf(v (mV)) { minf = 1/(1 + exp(-(v + 25)/6)) }
