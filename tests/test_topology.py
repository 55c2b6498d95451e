"""Topology model: counts and bandwidths as hand arithmetic on a small fat tree, and the campus."""

import datetime as dt

import networkx as nx
import numpy as np
import pytest

from sim.errors import InputError
from sim.topology import load_topology
from tests.conftest import DATA, ROOT


def test_small_fat_tree_switch_counts(small_topology):
    h100 = small_topology.pool("small-h100")
    # 128 GPUs / 8 per HGX node = 16 domains; 2 per leaf group -> 8 leaf groups; 4 per pod -> 2 pods.
    assert (h100.domains, h100.leaf_groups, h100.pods) == (16, 8, 2)
    # A leaf has 2 nodes x 8 GPUs = 16 ports down and 16 / 2 = 8 up.
    assert h100.leaf_ports == (16, 8)
    # A spine of radix 32 at 2:1 keeps floor(32 x 2/3) = 21 ports down: 4 leaves x 8 up need 2.
    assert h100.spines_per_pod == 2
    # Each spine: 4 x 8 / 2 = 16 down, 16 / 2 = 8 up; 2 pods x 8 up / 32 ports -> 1 core per plane.
    assert h100.spine_ports == (16, 8)
    assert h100.cores == 2
    assert small_topology.switch_counts()["small-h100"] == {"leaf": 8, "spine": 4, "core": 2}


def test_small_fat_tree_bandwidth_per_tier(small_topology):
    bw = small_topology.pool("small-h100").tier_bandwidth_gbit_per_s
    # NVLink 450 GB/s per direction = 3600 Gb/s; NIC 400 Gb/s; /2 at the leaf; /2 again at the spine.
    assert bw == {"nvlink": 3600, "leaf": 400, "spine": 200, "core": 100}


def test_graph_matches_arithmetic(small_topology):
    g = small_topology.graph
    kinds = {}
    for n in g.nodes:
        kinds[n[0]] = kinds.get(n[0], 0) + 1
    # small-h100: 16 domains, 8 leaves, 4 spines, 2 cores; small-gb200: 2 racks x 4 rails.
    gb = small_topology.pool("small-gb200")
    assert kinds["domain"] == 16 + 2
    assert kinds["leaf"] == 8 + gb.leaves == 8 + 2 * 4
    assert kinds["spine"] == 4 + gb.spines_per_pod
    assert kinds["core"] == 2 + gb.cores
    assert kinds["sitecore"] == 1 and kinds["campus"] == 1
    # Bandwidth per GPU at the spine tier, from the graph: a leaf's uplinks / the GPUs under it.
    leaf = ("leaf", "small-h100", 0, 0)
    up = sum(d["gbit_per_s"] for _, v, d in g.edges(leaf, data=True) if v[0] == "spine")
    down_gpus = 2 * 8
    assert up / down_gpus == 200
    # ... and at the core tier: a pod's spine uplinks / the pod's GPUs.
    pod_spines = [("spine", "small-h100", 0, k) for k in range(2)]
    core_up = sum(
        d["gbit_per_s"] for s in pod_spines for _, v, d in g.edges(s, data=True) if v[0] == "core"
    )
    assert core_up / 64 == 100


def test_hops_agree_with_graph_shortest_paths(small_topology):
    t, g = small_topology, small_topology.graph
    # domains 0,1 share a leaf group; 2 is in the same pod; 8 in the other pod; 16 another pool.
    for a, b, hops in [(0, 0, 0), (0, 1, 2), (0, 2, 4), (0, 8, 6), (0, 16, 8)]:
        assert t.hops(a, b) == hops
        if a != b:
            assert nx.shortest_path_length(g, ("domain", a), ("domain", b)) == hops


def test_tier_of_placements(small_topology):
    t = small_topology
    assert t.tier_of([3]) == "nvlink"
    assert t.tier_of([0, 1]) == "leaf"
    assert t.tier_of([0, 1, 2, 7]) == "spine"
    assert t.tier_of(np.arange(16)) == "core"
    assert t.tier_of([0, 16]) == "core"  # two pools of one site meet at the site core


def test_span_of_compact_placements(small_topology):
    t = small_topology
    assert t.span(["small-h100"], 8).tier == "nvlink"
    assert t.span(["small-h100"], 16).bandwidth_gbit_per_s == 400
    assert t.span(["small-h100"], 64).tier == "spine"
    assert t.span(["small-h100"], 128).bandwidth_gbit_per_s == 100
    # Across pools: the slower pool's core bandwidth / the site's 2:1 inter-pool taper.
    mixed = t.span_of({"small-h100": 64, "small-gb200": 72})
    assert (mixed.tier, mixed.bandwidth_gbit_per_s) == ("core", 100 / 2)
    with pytest.raises(InputError):
        t.span(["small-h100"], 129)


def test_capacity_follows_phase_dates(small_topology):
    t = small_topology
    assert t.gpus_online(dt.date(2025, 12, 31)) == {"small-h100": 0, "small-gb200": 0}
    assert t.gpus_online(dt.date(2026, 3, 1)) == {"small-h100": 64, "small-gb200": 144}
    assert t.gpus_online(dt.date(2026, 7, 1))["small-h100"] == 128
    # Domains come online in phase order: the first 8 H100 nodes in January.
    assert (t.domain_online[:8] == np.datetime64("2026-01-01")).all()
    assert (t.domain_online[8:16] == np.datetime64("2026-07-01")).all()


def test_power_is_gpus_times_it_watts_times_pue(small_topology):
    it_mw, facility_mw = small_topology.power_mw(dt.date(2026, 7, 1))["small-h100"]
    assert it_mw == pytest.approx(128 * 700 * 1.83 / 1e6)
    assert facility_mw == pytest.approx(it_mw * 1.5)


def test_phase_overrides_move_dates_and_round_to_domains():
    t = load_topology(
        [DATA / "small.toml"],
        phase_online={"h100-b": dt.date(2027, 1, 1)},
        phase_gpus={"gb200": 100},
    )
    assert t.gpus_online(dt.date(2026, 12, 31))["small-h100"] == 64
    assert t.pool("small-gb200").gpus == 72  # 100 GPUs round to one NVL72 rack
    with pytest.raises(InputError, match="phase_online.nope"):
        load_topology([DATA / "small.toml"], phase_online={"nope": dt.date(2027, 1, 1)})


def test_colossus1_reported_figures():
    t = load_topology([ROOT / "topologies/colossus1.toml"])
    at = t.last_online
    online = t.gpus_online(at)
    assert online["c1-h100"] == 150_000 and online["c1-h200"] == 50_000
    assert online["c1-gb200"] == pytest.approx(20_000, abs=72)
    it_mw = sum(v[0] for v in t.power_mw(at).values())
    assert it_mw == pytest.approx(300, rel=0.03)  # FACTS.md: ~300 MW IT


def test_colossus2_reaches_555k_gpus_in_phases():
    t = load_topology([ROOT / "topologies/colossus2.toml"])
    dates = sorted({ph.online for ph in t.phases})
    totals = [sum(t.gpus_online(d).values()) for d in dates]
    assert totals == sorted(totals) and totals[0] == pytest.approx(110_000, abs=72)
    assert totals[-1] == pytest.approx(555_000, abs=4 * 72)  # FACTS.md: ~555,000 GPUs


def test_full_campus_graph_builds():
    t = load_topology([ROOT / "topologies/colossus1.toml", ROOT / "topologies/colossus2.toml"])
    g = t.graph
    assert sum(1 for n in g.nodes if n[0] == "domain") == t.domains
    assert sum(1 for n in g.nodes if n[0] == "leaf") == sum(p.leaves for p in t.pools)
