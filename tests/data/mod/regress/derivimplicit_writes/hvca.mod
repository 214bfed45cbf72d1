: A high-voltage-activated calcium current on a fixed reversal potential
NEURON {
    SUFFIX hvca
    USEION ca WRITE ica
    RANGE gbar
}
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
PARAMETER { gbar = 2e-3 (S/cm2) erev = 120 (mV) }
ASSIGNED { v (mV) ica (mA/cm2) }
STATE { m }
INITIAL { m = minf(v) }
BREAKPOINT {
    SOLVE gate METHOD cnexp
    ica = gbar*m*m*(v - erev)
}
DERIVATIVE gate { m' = (minf(v) - m)/1.5 }
FUNCTION minf(v (mV)) { minf = 1/(1 + exp(-(v + 25)/6)) }
