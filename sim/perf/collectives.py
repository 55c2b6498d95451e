"""Collectives priced by the bytes their algorithm sends across each tier of the fabric.

A fabric, seen from one GPU, is a list of tiers from the inside out: `(block_gpus, bytes_per_s)`,
tier 0 the NVLink domain, each further tier a larger block (a leaf group, a pod, the pool) with
the per-GPU, per-direction bandwidth that traffic leaving the previous block gets when every GPU
does the same (oversubscription included). The last tier's block is unbounded.

A collective's group has `g` ranks spaced `stride` GPUs apart (Megatron rank order tp-cp-dp-pp:
a data-parallel group's members are tp*cp apart), placed compactly, so a block of `b` GPUs holds
`n = min(g, max(1, b // stride))` members of the group.

Algorithms (volumes per GPU for a reduce-scatter or all-gather of a `v`-byte buffer):
- hierarchical (NCCL's rings over rails / NVLS, the default): level t exchanges among the
  n_t / n_{t-1} sub-blocks of a tier-t block, on a shard already reduced to v / n_{t-1}:
  `v / n_{t-1} * (1 - n_{t-1} / n_t)` bytes at tier t's bandwidth; the levels run one after another;
- ring (flat, rails ignored): `(g - 1) / g * v` bytes at the bandwidth of the outermost tier spanned;
- tree: reduce inside the domain, then a tree over domains whose edges land anywhere: the shard
  `v / n_0 * (1 - n_0 / g)` at the outermost tier's bandwidth.
All-reduce = reduce-scatter + all-gather. All-to-all sends `v * (g - n_t) / g` bytes out of every
tier-t block, all tiers at once: the slowest tier sets the time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

Algorithm = Literal["hierarchical", "ring", "tree"]
Tiers = tuple[tuple[float, float], ...]  # (block_gpus, bytes per second per GPU), inside out


def members(tiers: Tiers, g: int, stride: int) -> list[int]:
    """Members of the group inside one block of each tier (the last tier holds all g)."""
    out = [min(g, max(1, int(b // stride))) for b, _ in tiers[:-1]]
    out.append(g)
    for i in range(1, len(out)):  # blocks nest
        out[i] = max(out[i], out[i - 1])
    return out


def reduce_scatter_s(
    v: float, g: int, stride: int, tiers: Tiers, algorithm: Algorithm = "hierarchical"
) -> float:
    """Seconds for a reduce-scatter (or all-gather) of a v-byte buffer over g ranks."""
    if g <= 1 or v <= 0:
        return 0.0
    n = members(tiers, g, stride)
    outer = next(i for i, k in enumerate(n) if k == g)
    if algorithm == "ring":
        return (g - 1) / g * v / tiers[outer][1]
    if algorithm == "tree":
        t = (n[0] - 1) / n[0] * v / tiers[0][1] if n[0] > 1 else 0.0
        return t + v / n[0] * (1 - n[0] / g) / tiers[outer][1]
    t, prev = 0.0, 1
    for (_, bw), k in zip(tiers, n, strict=True):
        if k > prev:
            t += v / prev * (1 - prev / k) / bw
            prev = k
    return t


def bytes_by_tier(v: float, g: int, stride: int, tiers: Tiers) -> list[float]:
    """Bytes per GPU a hierarchical reduce-scatter of v bytes sends at each tier."""
    out, prev = [], 1
    for k in members(tiers, g, stride):
        out.append(v / prev * (1 - prev / k) if k > prev else 0.0)
        prev = max(prev, k)
    return out


def all_to_all_s(v: float, g: int, stride: int, tiers: Tiers) -> float:
    """Seconds for an all-to-all in which each rank sends v bytes spread evenly over g ranks."""
    if g <= 1 or v <= 0:
        return 0.0
    n = members(tiers, g, stride)
    worst = (n[0] - 1) / g * v / tiers[0][1]  # inside the domain
    for t in range(1, len(tiers)):
        worst = max(worst, v * (g - n[t - 1]) / g / tiers[t][1])  # leaving tier t-1 blocks
    return worst


def p2p_bandwidth(tiers: Tiers, span_gpus: int) -> float:
    """Bytes/s per GPU between ranks `span_gpus` apart: the tier whose block holds both."""
    for b, bw in tiers:
        if span_gpus <= b:
            return bw
    return tiers[-1][1]


@lru_cache(maxsize=4096)
def rs_per_byte(g: int, stride: int, tiers: Tiers, algorithm: Algorithm = "hierarchical") -> float:
    """Seconds per buffer byte of a reduce-scatter (times are linear in the bytes): memoised."""
    return reduce_scatter_s(1.0, g, stride, tiers, algorithm)


@lru_cache(maxsize=4096)
def a2a_per_byte(g: int, stride: int, tiers: Tiers) -> float:
    """Seconds per byte sent of an all-to-all: memoised."""
    return all_to_all_s(1.0, g, stride, tiers)
