: its FUNCTION comes from an INCLUDE resolved beside this file
NEURON { SUFFIX incl  NONSPECIFIC_CURRENT i  RANGE g }
UNITS { (mA) = (milliamp) (mV) = (millivolt) (S) = (siemens) }
INCLUDE "include_from_own_folder.inc"
PARAMETER { g = 0.002 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g*boltz(v)*(v + 70) }
