NEURON {
    SUFFIX bad
}
PARAMETER {
    a = 1 (mV)
    b = = 2
}
