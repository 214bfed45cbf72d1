TITLE Fast Na current in the style of the Traub NEURON ports (CONSTANT, DEFINE, FROM loop, own ena, derivimplicit)

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
}

DEFINE NPOW 3

CONSTANT {
    mvhalf = -34.5 (mV)
    hvhalf = -59.4 (mV)
}

NEURON {
    SUFFIX tr_naf
    USEION na WRITE ina
    RANGE gbar, ina, m, h, fastNa_shift
}

PARAMETER {
    fastNa_shift = -3.5 (mV)
    gbar = 0.15 (mho/cm2)
    ena = 50 (mV)
}

ASSIGNED {
    v (mV)
    ina (mA/cm2)
    minf
    mtau (ms)
    hinf
    htau (ms)
}

STATE { m h }

BREAKPOINT {
    LOCAL mp
    SOLVE states METHOD derivimplicit
    mp = 1
    FROM i = 1 TO NPOW {
        mp = mp*m
    }
    ina = gbar*mp*h*(v - ena)
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
}

UNITSOFF
PROCEDURE rates(v (mV)) {
    LOCAL vs
    vs = v + fastNa_shift
    minf = 1/(1 + exp((-vs + mvhalf)/10))
    if (vs < -26.5) {
        mtau = 0.025 + 0.14*exp((vs + 26.5)/10)
    } else {
        mtau = 0.02 + 0.145*exp((-vs - 26.5)/10)
    }
    hinf = 1/(1 + exp((vs - hvhalf)/10.7))
    htau = 0.15 + 1.15/(1 + exp((vs + 33.5)/15))
}
UNITSON
