"""Passes over the IR: checks and rewrites between import and lowering."""
