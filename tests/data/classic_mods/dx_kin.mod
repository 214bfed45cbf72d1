TITLE Three-state K channel as a KINETIC scheme (CONSERVE, STEADYSTATE sparse)

NEURON {
    SUFFIX dx_kin
    USEION k READ ek WRITE ik
    RANGE gbar, g
    GLOBAL q10, temp
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.02 (S/cm2)
    q10 = 3
    temp = 22 (degC)
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ek (mV)
    ik (mA/cm2)
    g (S/cm2)
    a1 (/ms)
    b1 (/ms)
    a2 (/ms)
    b2 (/ms)
    tadj
}

STATE { C1 C2 O }

INITIAL {
    SOLVE kin STEADYSTATE sparse
}

BREAKPOINT {
    SOLVE kin METHOD sparse
    g = gbar*O
    ik = g*(v - ek)
}

KINETIC kin {
    rates(v)
    ~ C1 <-> C2 (a1, b1)
    ~ C2 <-> O (a2, b2)
    CONSERVE C1 + C2 + O = 1
}

PROCEDURE rates(v (mV)) {
    tadj = q10^((celsius - temp)/10 (degC))
    a1 = tadj*0.1*exp((v + 40)/20 (mV))
    b1 = tadj*0.05*exp(-(v + 40)/20 (mV))
    a2 = tadj*0.2*exp((v + 30)/25 (mV))
    b2 = tadj*0.1*exp(-(v + 30)/25 (mV))
}
