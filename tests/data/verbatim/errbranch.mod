COMMENT
A first-order decay whose rate a FUNCTION picks by a parameter; any other
value of the parameter is an error (hoc_execerror in a VERBATIM branch).
A second error branch depends on a state (run time). Written for nmlcell's
tests.
ENDCOMMENT

NEURON {
  POINT_PROCESS ErrBranch
  RANGE mode, smax
  NONSPECIFIC_CURRENT i
}

PARAMETER {
  mode = 1
  smax = 10
  g = 0.0001 (uS)
}

ASSIGNED {
  v (mV)
  i (nA)
}

STATE { s }

INITIAL { s = 1 }

BREAKPOINT {
  SOLVE states METHOD cnexp
  i = g*s*(v + 70)
}

FUNCTION rate() {
  if (mode == 1) {
    rate = 0.1
  } else if (mode == 2) {
    rate = -0.05
  } else {
    VERBATIM
    hoc_execerror("errbranch: mode must be 1 or 2", 0);
    ENDVERBATIM
  }
}

FUNCTION grow() {
  if (s > smax) {
    VERBATIM
    hoc_execerror("errbranch: s above smax", 0);
    ENDVERBATIM
  }
  grow = 0
}

DERIVATIVE states {
  s' = -rate()*s + grow()
}
