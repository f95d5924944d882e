"""graphc.random: MegEngine's random API (normal, uniform, permutation, shuffle, seed, RNG).

Draws are reproducible under a seed, eagerly and in traced functions alike: each generator keeps its key as
a tensor that every draw reads and advances, so a traced function's replays continue the same stream.
"""
from .rng import RNG, normal, permutation, seed, shuffle, uniform

__all__ = ["RNG", "normal", "permutation", "seed", "shuffle", "uniform"]
