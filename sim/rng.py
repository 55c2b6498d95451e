"""Named random streams from one seed: each consumer gets its own numpy Generator.

Streams are keyed by name (hashed to integers), so adding a stream never shifts the draws of
another: the same scenario and seed give the same tables.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """The Generator for `name` under `seed` (stable across runs, processes and platforms)."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, key])))


def draw(rng: np.random.Generator, dist) -> float:
    """One draw of a `sim.spec.workload.Distribution`, clipped to its [min, max]."""
    if dist.dist == "fixed":
        x = dist.value
    elif dist.dist == "exponential":
        x = rng.exponential(dist.mean)
    else:
        x = dist.median * float(np.exp(dist.sigma * rng.standard_normal()))
    if dist.min is not None:
        x = max(x, dist.min)
    if dist.max is not None:
        x = min(x, dist.max)
    return float(x)
