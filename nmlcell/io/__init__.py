"""Outputs: LEMS-style .dat files, spike files, matplotlib figures."""
