TITLE Writes eca from cai and cao by Nernst's equation (WRITE eca)

NEURON {
    SUFFIX cl_canernst
    USEION ca READ cai, cao WRITE eca
}

UNITS {
    (mV) = (millivolt)
    (molar) = (1/liter)
    (mM) = (millimolar)
    FARADAY = (faraday) (coulomb)
    R = (k-mole) (joule/degC)
}

ASSIGNED {
    celsius (degC)
    cai (mM)
    cao (mM)
    eca (mV)
}

INITIAL {
    eca = (1000)*R*(celsius + 273.15)/(2*FARADAY)*log(cao/cai)
}

BREAKPOINT {
    eca = (1000)*R*(celsius + 273.15)/(2*FARADAY)*log(cao/cai)
}
