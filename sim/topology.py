"""The campus: sites, pools and NVLink domains as numpy arrays, the fabric as a networkx graph,
and placement queries (tier spanned, bandwidth per GPU, hops, power) by index arithmetic.

Tiers, innermost first: `nvlink` (one NVLink domain), `leaf` (one leaf group: the domains that
share the rail leaves), `spine` (one pod), `core` (one site: across pods of a pool, or across
pools through the site core), `campus` (across sites over the campus link).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import InputError, Problem
from sim.hardware import GPU, catalog
from sim.spec.base import load
from sim.spec.topology import PoolFabric, TopologyFile

if TYPE_CHECKING:  # imported where arrays and graphs are built: `sim validate` needs neither
    import networkx as nx
    import numpy as np

TIERS = ("nvlink", "leaf", "spine", "core", "campus")

# assumed: aggregate bandwidth between the sites of one campus (dark fibre between buildings);
# no public figure. A scenario parameter.
DEFAULT_CAMPUS_LINK_TBIT_PER_S = 50.0


@dataclass(frozen=True)
class Span:
    """What a set of GPUs spans: the outermost tier, hops between its farthest members, and the
    per-GPU, per-direction bandwidth (Gbit/s) a collective crossing that tier can use."""

    tier: str
    hops: int
    bandwidth_gbit_per_s: float


@dataclass(frozen=True)
class SiteInfo:
    index: int
    name: str
    campus: str
    cooling: str
    pue: float
    inter_pool_oversubscription: float
    file: str


@dataclass(frozen=True)
class PhaseInfo:
    name: str
    site: str
    pool: str
    gpus: int  # whole NVLink domains: the requested figure rounded to the nearest domain
    domains: int
    online: dt.date


@dataclass(frozen=True)
class PoolInfo:
    """One pool with its derived fabric figures (switch counts, per-tier bandwidth)."""

    index: int
    name: str
    site: SiteInfo
    gpu: GPU
    fabric: PoolFabric
    pue: float
    it_overhead_factor: float
    domains: int
    first_domain: int

    @property
    def gpus_per_domain(self) -> int:
        return self.gpu.nvlink_domain_gpus

    @property
    def gpus(self) -> int:
        return self.domains * self.gpus_per_domain

    @property
    def it_w_per_gpu(self) -> float:
        return self.gpu.tdp_w * self.it_overhead_factor

    # -- switch counts ---------------------------------------------------------------------
    @property
    def leaf_ports(self) -> tuple[int, int]:
        return self.fabric.leaf_ports(self.gpus_per_domain)

    @property
    def leaf_groups(self) -> int:
        return math.ceil(self.domains / self.fabric.domains_per_leaf_group)

    @property
    def pods(self) -> int:
        return math.ceil(self.leaf_groups / self.fabric.leaf_groups_per_pod)

    @property
    def leaves(self) -> int:
        return self.leaf_groups * self.fabric.rails

    @property
    def spines_per_plane(self) -> int:
        """Spines of one rail plane of a pod: the leaves of rail r uplink only to plane r.

        A spine splits its radix into down and up ports in the ratio of its oversubscription.
        """
        f = self.fabric
        os_ = f.spine_oversubscription
        down_ports = math.floor(f.switch_radix * os_ / (1 + os_))
        return math.ceil(f.leaf_groups_per_pod * self.leaf_ports[1] / down_ports)

    @property
    def spines_per_pod(self) -> int:
        return self.spines_per_plane * self.fabric.rails

    @property
    def spine_ports(self) -> tuple[float, int]:
        """(down, up) ports of one spine switch."""
        f = self.fabric
        down = f.leaf_groups_per_pod * self.leaf_ports[1] / self.spines_per_plane
        return down, math.ceil(down / f.spine_oversubscription)

    @property
    def cores_per_plane(self) -> int:
        """Core switches that each spine plane (spine k of every pod) connects to."""
        return max(1, math.ceil(self.pods * self.spine_ports[1] / self.fabric.switch_radix))

    @property
    def cores(self) -> int:
        return self.spines_per_pod * self.cores_per_plane

    # -- bandwidth per GPU, per direction, Gbit/s --------------------------------------------
    @property
    def tier_bandwidth_gbit_per_s(self) -> dict[str, float]:
        """Bandwidth each GPU can drive across each tier when every GPU of the tier does so."""
        nic = self.gpu.nic_gbit_per_s
        spine = nic / self.fabric.leaf_oversubscription
        core = spine / self.fabric.spine_oversubscription
        return {
            "nvlink": self.gpu.nvlink_gbyte_per_s * 8.0,
            "leaf": nic,
            "spine": spine,
            "core": core,
        }


@dataclass
class Topology:
    """A campus of one or more sites. Per-domain state lives in numpy arrays indexed by domain,
    built on first use (a validation reads the sites, pools and phases only)."""

    sites: list[SiteInfo]
    pools: list[PoolInfo]
    phases: list[PhaseInfo]
    campus_link_tbit_per_s: float = DEFAULT_CAMPUS_LINK_TBIT_PER_S

    def __post_init__(self) -> None:
        self.pool_by_name = {p.name: p for p in self.pools}

    # -- per NVLink domain -----------------------------------------------------------------
    @cached_property
    def _per_domain(self) -> dict[str, np.ndarray]:
        """The per-domain arrays, built together (numpy is imported here, not at start-up)."""
        import numpy as np

        n = sum(p.domains for p in self.pools)
        pool = np.empty(n, np.int16)
        site = np.empty(n, np.int16)
        group = np.empty(n, np.int32)
        pod = np.empty(n, np.int32)
        online = np.empty(n, "datetime64[D]")
        group0 = pod0 = 0
        for p in self.pools:
            sl = slice(p.first_domain, p.first_domain + p.domains)
            local = np.arange(p.domains)
            groups = local // p.fabric.domains_per_leaf_group
            pool[sl] = p.index
            site[sl] = p.site.index
            group[sl] = group0 + groups
            pod[sl] = pod0 + groups // p.fabric.leaf_groups_per_pod
            group0 += p.leaf_groups
            pod0 += p.pods
            cursor = p.first_domain
            for ph in (ph for ph in self.phases if ph.pool == p.name):
                online[cursor : cursor + ph.domains] = np.datetime64(ph.online, "D")
                cursor += ph.domains
        return {"pool": pool, "site": site, "group": group, "pod": pod, "online": online}

    @cached_property
    def _pool_starts(self) -> np.ndarray:
        """Each pool's first domain, then the end: pools hold contiguous ranges in pool order."""
        import numpy as np

        starts = np.array([p.first_domain for p in self.pools] + [self.domains], np.int64)
        if (np.diff(starts) < 0).any():
            raise ValueError("pools must hold contiguous domain ranges in pool order")
        return starts

    @cached_property
    def domain_pool(self) -> np.ndarray:
        """Pool index of each domain."""
        return self._per_domain["pool"]

    @cached_property
    def domain_site(self) -> np.ndarray:
        """Site index of each domain."""
        return self._per_domain["site"]

    @cached_property
    def domain_group(self) -> np.ndarray:
        """Global leaf-group index of each domain."""
        return self._per_domain["group"]

    @cached_property
    def domain_pod(self) -> np.ndarray:
        """Global pod index of each domain."""
        return self._per_domain["pod"]

    @cached_property
    def domain_online(self) -> np.ndarray:
        """The day (datetime64[D]) each domain comes online."""
        return self._per_domain["online"]

    # -- lookups ---------------------------------------------------------------------------
    def pool(self, name: str) -> PoolInfo:
        try:
            return self.pool_by_name[name]
        except KeyError:
            raise InputError.single(
                "pools", f"unknown pool; pools are {list(self.pool_by_name)}", name
            ) from None

    @property
    def domains(self) -> int:
        return len(self.domain_pool)

    @property
    def last_online(self) -> dt.date:
        return max(ph.online for ph in self.phases)

    # -- capacity and power ----------------------------------------------------------------
    def gpus_online(self, at: dt.date) -> dict[str, int]:
        """GPUs online per pool on a date (phases whose online date is on or before it)."""
        out = {p.name: 0 for p in self.pools}
        for ph in self.phases:
            if ph.online <= at:
                out[ph.pool] += ph.gpus
        return out

    def power_mw(self, at: dt.date) -> dict[str, tuple[float, float]]:
        """(IT MW, facility MW) per pool for the GPUs online on a date, all at full load."""
        out = {}
        for name, gpus in self.gpus_online(at).items():
            p = self.pool_by_name[name]
            it_mw = gpus * p.it_w_per_gpu / 1e6
            out[name] = (it_mw, it_mw * p.pue)
        return out

    # -- placement queries -----------------------------------------------------------------
    def tier_of(self, domains: Sequence[int] | np.ndarray) -> str:
        """The outermost tier a set of domains spans."""
        import numpy as np

        d = np.asarray(domains)
        if d.size == 0:
            raise ValueError("an empty placement spans no tier")
        if (d == d[0]).all():
            return "nvlink"
        if (self.domain_group[d] == self.domain_group[d[0]]).all():
            return "leaf"
        if (self.domain_pod[d] == self.domain_pod[d[0]]).all():
            return "spine"
        if (self.domain_site[d] == self.domain_site[d[0]]).all():
            return "core"
        return "campus"

    def hops(self, a: int, b: int) -> int:
        """Switch-to-switch hops between two domains (same rail), by arithmetic on the indices.

        nvlink 0; same leaf group 2; same pod 4; same pool 6; other pool of the site 8; other site 10.
        """
        if a == b:
            return 0
        if self.domain_group[a] == self.domain_group[b]:
            return 2
        if self.domain_pod[a] == self.domain_pod[b]:
            return 4
        if self.domain_pool[a] == self.domain_pool[b]:
            return 6
        if self.domain_site[a] == self.domain_site[b]:
            return 8
        return 10

    _TIER_OF_HOPS = {0: "nvlink", 2: "leaf", 4: "spine", 6: "core", 8: "core", 10: "campus"}

    def placement_span(self, domains: Sequence[int] | np.ndarray) -> Span:
        """Span of an actual placement (a set of domain indices). Leaf groups, pods, pools and
        sites are contiguous index ranges, so the first and last of the sorted domains give
        the outermost tier, and the pools' first domains split them by pool."""
        import numpy as np

        d = np.asarray(domains)
        if d.size > 1 and not (d[1:] > d[:-1]).all():
            d = np.unique(d)
        starts = np.searchsorted(d, self._pool_starts)
        counts = {
            p.name: int(n) * p.gpus_per_domain
            for p, n in zip(self.pools, np.diff(starts).tolist(), strict=True)
            if n
        }
        hops = self.hops(int(d[0]), int(d[-1]))
        tier = self._TIER_OF_HOPS[hops]
        return Span(tier, hops, self._bandwidth(tier, counts))

    def span(self, pools: Sequence[str], gpus: int) -> Span:
        """Span of the most compact placement of `gpus` GPUs, filling `pools` in order."""
        left, counts = gpus, {}
        for name in pools:
            take = min(left, self.pool(name).gpus)
            if take:
                counts[name] = take
            left -= take
        if left > 0 or gpus <= 0:
            raise InputError.single(
                "gpus", f"must be between 1 and the {gpus - left} GPUs of pools {list(pools)}", gpus
            )
        return self.span_of(counts)

    def span_of(self, gpus_by_pool: Mapping[str, int]) -> Span:
        """Span of the most compact placement with these GPUs in each pool."""
        counts = {k: v for k, v in gpus_by_pool.items() if v > 0}
        pools = [self.pool(n) for n in counts]
        if len({p.site.index for p in pools}) > 1:
            return Span("campus", 10, self._bandwidth("campus", counts))
        if len(pools) > 1:
            return Span("core", 8, self._bandwidth("core", counts))
        p, n = pools[0], next(iter(counts.values()))
        domains = math.ceil(n / p.gpus_per_domain)
        f = p.fabric
        if domains <= 1:
            tier, hops = "nvlink", 0
        elif domains <= f.domains_per_leaf_group:
            tier, hops = "leaf", 2
        elif domains <= f.domains_per_leaf_group * f.leaf_groups_per_pod:
            tier, hops = "spine", 4
        else:
            tier, hops = "core", 6
        return Span(tier, hops, self._bandwidth(tier, counts))

    def _bandwidth(self, tier: str, gpus_by_pool: Mapping[str, int]) -> float:
        pools = [self.pool_by_name[n] for n in gpus_by_pool]
        if len(pools) == 1 and tier != "campus":
            return pools[0].tier_bandwidth_gbit_per_s[tier]
        core = min(p.tier_bandwidth_gbit_per_s["core"] for p in pools)
        if len({p.site.index for p in pools}) == 1:
            return core / pools[0].site.inter_pool_oversubscription
        # Across sites: each site's pools still cross their own site core, then share the link
        # with the job's GPUs on the smaller side.
        per_site: dict[int, int] = {}
        inter = math.inf
        for p in pools:
            per_site[p.site.index] = per_site.get(p.site.index, 0) + gpus_by_pool[p.name]
            inter = min(
                inter, p.tier_bandwidth_gbit_per_s["core"] / p.site.inter_pool_oversubscription
            )
        link = self.campus_link_tbit_per_s * 1000.0 / min(per_site.values())
        return min(inter, link)

    # -- the switch-level graph ------------------------------------------------------------
    @cached_property
    def graph(self) -> nx.Graph:
        """Switch-level fabric: domain -> rail leaves -> pod spines -> core planes -> site core
        -> campus. Edges carry `gbit_per_s` (capacity per direction)."""
        return build_graph(self)

    def switch_counts(self) -> dict[str, dict[str, int]]:
        """Switches per tier and pool, from arithmetic (the graph has the same counts)."""
        return {
            p.name: {"leaf": p.leaves, "spine": p.spines_per_pod * p.pods, "core": p.cores}
            for p in self.pools
        }


def build_graph(topo: Topology) -> nx.Graph:
    import networkx as nx

    g = nx.Graph()
    campus = ("campus",)
    g.add_node(campus, kind="campus")
    for site in topo.sites:
        sc = ("sitecore", site.name)
        g.add_node(sc, kind="sitecore")
        site_pools = [p for p in topo.pools if p.site.index == site.index]
        g.add_edge(sc, campus, gbit_per_s=topo.campus_link_tbit_per_s * 1000.0)
        for p in site_pools:
            _add_pool(g, topo, p, sc)
    return g


def _add_pool(g: nx.Graph, topo: Topology, p: PoolInfo, sitecore: tuple) -> None:
    f, nic = p.fabric, p.gpu.nic_gbit_per_s
    per_rail = p.gpus_per_domain // f.rails
    down, up = p.leaf_ports
    s_down, s_up = p.spine_ports
    group0 = int(topo.domain_group[p.first_domain]) if p.domains else 0
    leaf = lambda grp, r: ("leaf", p.name, grp, r)  # noqa: E731
    spine = lambda pod, k: ("spine", p.name, pod, k)  # noqa: E731
    core = lambda k, c: ("core", p.name, k, c)  # noqa: E731
    edges = []
    rail_link = {"gbit_per_s": per_rail * nic}
    for d in range(p.first_domain, p.first_domain + p.domains):
        grp = int(topo.domain_group[d]) - group0
        edges.extend((("domain", d), leaf(grp, r), rail_link) for r in range(f.rails))
    n_plane = p.spines_per_plane
    leaf_up_each = {"gbit_per_s": up * nic / n_plane}
    spine_up_each = {"gbit_per_s": s_up * nic / p.cores_per_plane}
    for grp in range(p.leaf_groups):
        pod = grp // f.leaf_groups_per_pod
        for r in range(f.rails):
            edges.extend(
                (leaf(grp, r), spine(pod, r * n_plane + j), leaf_up_each) for j in range(n_plane)
            )
    for pod in range(p.pods):
        for k in range(p.spines_per_pod):
            edges.extend(
                (spine(pod, k), core(k, c), spine_up_each) for c in range(p.cores_per_plane)
            )
    core_up = p.pods * p.spines_per_pod * s_up * nic / p.site.inter_pool_oversubscription
    core_up_each = {"gbit_per_s": core_up / p.cores}
    for k in range(p.spines_per_pod):
        for c in range(p.cores_per_plane):
            edges.append((core(k, c), sitecore, core_up_each))
    g.add_edges_from(edges)


def load_topology(
    files: Iterable[str | Path],
    phase_online: Mapping[str, dt.date] | None = None,
    phase_gpus: Mapping[str, int] | None = None,
    campus_link_tbit_per_s: float = DEFAULT_CAMPUS_LINK_TBIT_PER_S,
) -> Topology:
    """Build a campus from topology files, with phase dates and sizes overridden by name."""
    phase_online = dict(phase_online or {})
    phase_gpus = dict(phase_gpus or {})
    sites: list[SiteInfo] = []
    pools: list[PoolInfo] = []
    phases: list[PhaseInfo] = []
    first_domain = 0
    problems: list[Problem] = []
    for path in files:
        spec = load(TopologyFile, path)
        s = spec.site
        site = SiteInfo(
            len(sites),
            s.name,
            s.campus,
            s.cooling,
            s.pue,
            s.fabric.inter_pool_oversubscription,
            str(path),
        )
        if any(x.name == s.name for x in sites):
            problems.append(
                Problem("site.name", "site already loaded from another file", s.name, str(path))
            )
        sites.append(site)
        for pool_spec in spec.pools:
            g = catalog()[pool_spec.gpu]
            site_phases = []
            for ph in spec.phases:
                if ph.pool != pool_spec.name:
                    continue
                gpus = phase_gpus.pop(ph.name, ph.gpus)
                online = phase_online.pop(ph.name, ph.online)
                domains = max(1, round(gpus / g.nvlink_domain_gpus))
                site_phases.append(
                    PhaseInfo(
                        ph.name,
                        s.name,
                        pool_spec.name,
                        domains * g.nvlink_domain_gpus,
                        domains,
                        online,
                    )
                )
            site_phases.sort(key=lambda ph: (ph.online, ph.name))
            n_domains = sum(ph.domains for ph in site_phases)
            if any(x.name == pool_spec.name for x in pools):
                problems.append(
                    Problem(
                        "pools.name", "pool name used by another site", pool_spec.name, str(path)
                    )
                )
            pools.append(
                PoolInfo(
                    index=len(pools),
                    name=pool_spec.name,
                    site=site,
                    gpu=g,
                    fabric=pool_spec.fabric,
                    pue=pool_spec.pue or s.pue,
                    it_overhead_factor=pool_spec.it_overhead_factor or g.it_overhead_factor,
                    domains=n_domains,
                    first_domain=first_domain,
                )
            )
            first_domain += n_domains
            phases.extend(site_phases)
    for name, value in phase_online.items():
        problems.append(
            Problem(f"phase_online.{name}", "no phase of that name in the topology files", value)
        )
    for name, value in phase_gpus.items():
        problems.append(
            Problem(f"phase_gpus.{name}", "no phase of that name in the topology files", value)
        )
    if problems:
        raise InputError(problems)
    return Topology(sites, pools, phases, campus_link_tbit_per_s)


def scenario_topology(scenario) -> Topology:
    """The campus a validated scenario describes, with its phase overrides applied."""
    online: dict[str, dt.date] = {}
    gpus: dict[str, int] = {}
    for site in scenario.sites:
        online.update(site.phase_online)
        gpus.update(site.phase_gpus)
    return load_topology(
        [s.topology for s in scenario.sites], online, gpus, scenario.campus.link_tbit_per_s
    )
