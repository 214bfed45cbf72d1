TITLE Calcium decay pool in the style of Destexhe (STATE cai, rectified influx)

INDEPENDENT {t FROM 0 TO 1 WITH 1 (ms)}

NEURON {
    SUFFIX dx_cad
    USEION ca READ ica, cai WRITE cai
    RANGE depth, cainf, taur
}

UNITS {
    (molar) = (1/liter)
    (mM) = (millimolar)
    (um) = (micron)
    (mA) = (milliamp)
    (msM) = (ms mM)
    FARADAY = (faraday) (coulomb)
}

PARAMETER {
    depth = 0.1 (um)
    taur = 5 (ms)
    cainf = 2.4e-4 (mM)
}

STATE { cai (mM) }

INITIAL {
    cai = cainf
}

ASSIGNED {
    ica (mA/cm2)
    drive_channel (mM/ms)
}

BREAKPOINT {
    SOLVE state METHOD derivimplicit
}

DERIVATIVE state {
    drive_channel = -(10000)*ica/(2*FARADAY*depth)
    if (drive_channel <= 0.) { drive_channel = 0. }
    cai' = drive_channel + (cainf - cai)/taur
}
