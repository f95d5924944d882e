"""CPU execution of fused groups: inline ufunc lines, cache-blocked NumPy loops, generated C loops."""
