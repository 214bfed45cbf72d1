: Writes the calcium reversal potential (WRITE eca) in the BREAKPOINT of a
: mechanism without a current, from cai: NEURON runs that BREAKPOINT in its
: state phase (after the pool: the new cai), the calcium current reads the
: stored value in the next step (nmlcell ignored the write before: eca was
: Nernst of cai)
NEURON {
    SUFFIX ewfix
    USEION ca READ cai WRITE eca
    RANGE e0, slope
}
UNITS { (mV) = (millivolt) (mM) = (milli/liter) }
PARAMETER { e0 = 60 (mV) slope = 1000 (mV/mM) }
ASSIGNED { cai (mM) eca (mV) }
INITIAL { eca = e0 - slope*cai }
BREAKPOINT { eca = e0 - slope*cai }
