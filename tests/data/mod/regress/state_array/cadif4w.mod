COMMENT
cadif4.mod writing its outer shell to the ion (cai = ca[0] in the KINETIC
block, METHOD sparse: after its Newton step NEURON evaluates the block once
more, at the new states, so cai is the new ca[0]).
A STATE array with a constant size (ca[N], N a DEFINE): radial diffusion
between 4 shells in a KINETIC scheme with COMPARTMENT volumes, reactions
written in a FROM loop, a voltage-dependent influx into the outer shell
(a `<<` flux that does not depend on the states: NEURON's sparse matrix
leaves a `<<` flux out of its Jacobian), removal from the inner shell into a
sink, and a current that depends on the outer shell.
ENDCOMMENT
NEURON {
    SUFFIX cadif4w
    USEION ca WRITE cai
    NONSPECIFIC_CURRENT i
    RANGE cai4, cain, g
}
DEFINE N 4
UNITS { (molar) = (1/liter) (mM) = (millimolar) (um) = (micron) (mA) = (milliamp) }
PARAMETER { D = 0.6 (um2/ms) kout = 0.05 (um3/ms) cainf = 5e-5 (mM) g = 20 (S/cm2/mM) }
ASSIGNED { cai (mM) v (mV) i (mA/cm2) diam (um) vol[N] cai4 (mM) cain (mM) }
STATE { ca[N] (mM) sink (mM) }
INITIAL {
    FROM i = 0 TO N-1 {
        vol[i] = (i + 1)*diam/10
        ca[i] = cainf
    }
}
BREAKPOINT {
    SOLVE diff METHOD sparse
    cai4 = ca[0]
    cain = ca[N-1]
    i = g*(ca[0] - cainf)*(v + 80)
}
KINETIC diff {
    COMPARTMENT i, vol[i] {ca}
    ~ ca[0] << (1e-4*vol[0]/(1 + exp(-(v + 20)/5)))
    ~ ca[N-1] <-> sink (kout, 0)
    FROM i = 0 TO N-2 {
        ~ ca[i] <-> ca[i+1] (D, D)
    }
    cai = ca[0]
}
