"""Lowering of optimized graphs to plans, and the executors that run them."""
