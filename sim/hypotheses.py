"""Which assumptions decide a training job's MFU, and which of them an observed MFU supports.

The job's modelled MFU (as `sim explain` computes it: the engine's placement on an empty
campus, the perf model, the expected failure factor) becomes a function of every ranged input
it reads: the fabric figures of its sites' topology files, the campus link, the scenario's
failure parameters, its own shape in its workload file, and the perf model's constant ranges
(`sim.perf.constants.PARAMS` of kind "assumed"). A sample sets those values in copies of the
raw documents (the perf constants through `constants.overridden`), re-validates them and
rebuilds only what they feed; a perf constant that moves the MFU at neither end of its range
is not read by this job (e.g. MoE terms for a dense job). `analyse` then runs Morris screening, Sobol
indices on the inputs that survive the screen, one-at-a-time swings for the tornado chart, and,
given an observation, rejection sampling over the declared ranges.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sim import perf, sensitivity
from sim.assumptions import Assumption, collect, key
from sim.errors import InputError
from sim.explain import Explanation, expected_failures, explain, find_job, full_size
from sim.perf import constants as perf_constants
from sim.spec.base import read_toml, validate
from sim.spec.mfu import train_job
from sim.spec.scenario import Scenario
from sim.spec.topology import PoolFabric, SiteFabric
from sim.topology import Topology

PERF = "perf"
PERF_CONSTANTS_FILE = Path(perf_constants.__file__).resolve()  # where PARAMS are declared


@dataclass(frozen=True)
class Input:
    """A ranged assumption the job's MFU reads, and where its sampled value goes."""

    assumption: Assumption
    kind: str  # scenario, topology, workload or perf
    file: Path | None  # the raw document it is set in (None for perf constants)
    snap: str  # "" (continuous), "round", "pow2" or "batch" (a multiple of dp x micro-batch)
    label: str = ""  # for people: the file's name, then the path with pools and jobs by name

    @property
    def name(self) -> str:
        return key(self.assumption)


class JobMFU:
    """The modelled MFU of one job as a function of its ranged assumptions."""

    def __init__(self, prep, name: str):
        self.prep, self.name = prep, name
        self.job = find_job(prep, name)
        topo = prep.topology
        pools = [topo.pool(p) for p in self.job.shape.pools]
        self.gpu_types = {p.gpu.name for p in pools}
        self._site_file = {Path(p.site.file).resolve(): p.site.file for p in pools}
        self.site_files = set(self._site_file)
        self.pool_names = {p.name for p in pools}
        self.scenario_file = Path(prep.path).resolve()
        self.workload_file, self.table = self._where_the_job_is()
        self.raw: dict[Path, dict] = {}
        self.inputs: list[Input] = []
        self.unread: list[Assumption] = []
        for a in collect(prep.path):
            if not a.assumed:
                continue
            inp = self._bind(a)
            (self.inputs.append(inp) if inp else self.unread.append(a))
        for inp in self.inputs:
            if inp.file is not None and inp.file not in self.raw:
                self.raw[inp.file] = read_toml(inp.file)
        self.inputs = [replace(i, label=self._label(i)) for i in self.inputs]
        self._paths = [(i, i.name, path_parts(i.assumption.path)) for i in self.inputs]
        base = self.mfu({})
        for i in [i for i in self.inputs if i.kind == PERF]:
            a = i.assumption
            if self.mfu({i.name: a.low}) == base == self.mfu({i.name: a.high}):
                self.inputs.remove(i)  # this job's MFU does not read it
                self.unread.append(a)
        self._paths = [(i, i.name, path_parts(i.assumption.path)) for i in self.inputs]

    def _label(self, inp: Input) -> str:
        """`colossus1.toml c1-h100.fabric.leaf_oversubscription` for `pools[0].fabric...`."""
        a = inp.assumption
        file = a.file.rsplit("/", 1)[-1]
        m = re.match(r"^(pools|training|streams)\[(\d+)\]\.(.*)$", a.path)
        if m and inp.file is not None:
            item = self.raw[inp.file][m.group(1)][int(m.group(2))]
            return f"{file} {item.get('name', m.group(1))}.{m.group(3)}"
        return f"{file} {a.path}"

    def _where_the_job_is(self) -> tuple[Path, str]:
        pairs = zip(self.prep.scenario.workloads, self.prep.workloads, strict=True)
        for i, (path, w) in enumerate(pairs):
            for table in ("training", "streams"):
                for j, item in enumerate(getattr(w, table)):
                    if item.name == self.name:
                        self.workload_index = i
                        return Path(path).resolve(), f"{table}[{j}]."
        raise AssertionError("find_job found a job no workload holds")

    def _bind(self, a: Assumption) -> Input | None:
        """Where a ranged assumption enters this job's MFU, or None if it does not."""
        f = Path(a.file).resolve()
        snap = "round" if isinstance(a.value, int) else ""
        if isinstance(a.value, int) and a.value > 0 and a.value & (a.value - 1) == 0:
            snap = "pow2"
        if f == PERF_CONSTANTS_FILE:
            return Input(a, PERF, None, "")
        if f == self.scenario_file:
            p = a.path
            if p == "campus.link_tbit_per_s" and len(self.site_files) > 1:
                return Input(a, "scenario", f, snap)
            if p in ("failures.scale", "failures.restart_minutes", "failures.checkpoint_write_minutes"):
                return Input(a, "scenario", f, snap)
            if p.startswith("failures.rates.") and p.split(".")[2] in self.gpu_types:
                return Input(a, "scenario", f, snap)
            return None
        if f in self.site_files:
            if a.path.startswith("site.fabric."):
                return Input(a, "topology", f, snap)
            if a.path.startswith("pools["):
                i = int(a.path[6 : a.path.index("]")])
                pool = self._raw(f)["pools"][i]
                if pool.get("name") in self.pool_names and ".fabric." in a.path:
                    return Input(a, "topology", f, snap)
            return None
        if f == self.workload_file and a.path.startswith(self.table):
            if a.path.endswith(".global_batch"):
                snap = "batch"
            return Input(a, "workload", f, snap)
        return None

    def _raw(self, f: Path) -> dict:
        if f not in self.raw:
            self.raw[f] = read_toml(f)
        return self.raw[f]

    # -- evaluation --------------------------------------------------------------------------
    @property
    def problem(self) -> sensitivity.Problem:
        return sensitivity.Problem(
            tuple(i.name for i in self.inputs),
            tuple((float(i.assumption.low), float(i.assumption.high)) for i in self.inputs),
        )

    @property
    def nominal(self) -> dict[str, float]:
        return {i.name: float(i.assumption.value) for i in self.inputs}

    def _snapped(self, inp: Input, x: float, doc: dict) -> float:
        """A sampled value made valid: integers rounded (powers of two kept powers of two), a
        global batch a whole number of micro-batches per data-parallel rank."""
        if inp.snap == "round":
            return int(round(x))
        if inp.snap == "pow2":
            return int(2 ** round(math.log2(x)))
        if inp.snap == "batch":
            job = doc
            for part in self.table.rstrip(".").replace("]", "").split("["):
                job = job[int(part)] if part.isdigit() else job[part]
            micro = job["training"]["micro_batch"]
            micro = micro["value"] if isinstance(micro, dict) else micro
            q = self.job.max_dp * micro
            return int(max(1, round(x / q)) * q)
        return x

    def _documents(self, values: Mapping[str, float]):
        """Copies of the raw documents with these values set (copy on write: only the tables on
        the paths set are copied), the top-level tables touched per document, and the perf
        constants to set."""
        docs: dict[Path, dict] = {}
        fresh: set[int] = set()  # ids of the tables already copied for this sample
        touched: dict[Path, set[str]] = {}
        perf_values = {}
        for inp, name, parts in self._paths:
            if name not in values:
                continue
            if inp.kind == PERF:
                perf_values[inp.assumption.path] = float(values[name])
                continue
            doc = docs.get(inp.file)
            if doc is None:
                doc = docs[inp.file] = copy.copy(self.raw[inp.file])
                fresh.add(id(doc))
            v = self._snapped(inp, values[name], doc)
            node = doc
            for p in parts[:-1]:
                child = node[p]
                if id(child) not in fresh:
                    child = node[p] = copy.copy(child)
                    fresh.add(id(child))
                node = child
            last = parts[-1]
            node[last] = {**node[last], "value": v} if isinstance(node[last], dict) else v
            touched.setdefault(inp.file, set()).add(parts[0])
        return docs, touched, perf_values

    def mfu(self, values: Mapping[str, float]) -> float:
        """The modelled MFU with these inputs (by name) set; the rest at their values."""
        docs, touched, perf_values = self._documents(values)
        prep = self._prepared(docs, touched)
        with perf_constants.overridden(**perf_values):
            return baseline_mfu(prep, self.name)

    def explain(self, values: Mapping[str, float]) -> Explanation:
        """`sim explain`'s full what-if table with these inputs set (slower than `mfu`)."""
        docs, touched, perf_values = self._documents(values)
        with perf_constants.overridden(**perf_values):
            return explain(self._prepared(docs, touched), self.name)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        names = self.problem.names
        return np.array([self.mfu(dict(zip(names, row, strict=True))) for row in np.atleast_2d(X)])

    def _prepared(self, docs: dict[Path, dict], touched: dict[Path, set[str]]):
        """The prepared scenario with the sampled documents' tables re-validated and swapped in
        (only the tables a sample touched, and only what they feed)."""
        prep = self.prep
        scenario = prep.scenario
        if self.scenario_file in docs:
            doc = docs[self.scenario_file]
            scenario = scenario.model_copy(
                update={
                    k: validate(Scenario.model_fields[k].annotation, doc[k], self.scenario_file)
                    for k in touched[self.scenario_file]
                }
            )
        topo = prep.topology
        sites, pools = {}, {}  # only the fabric tables a sample can touch are re-validated
        for f, d in docs.items():
            if f in self.site_files:
                sites[self._site_file[f]] = validate(SiteFabric, d["site"].get("fabric", {}), f)
                for pool in d["pools"]:
                    if pool["name"] in self.pool_names:
                        pools[pool["name"]] = validate(PoolFabric, pool["fabric"], f)
        link = scenario.campus.link_tbit_per_s
        if sites or link != topo.campus_link_tbit_per_s:
            topo = rebuilt(topo, sites, pools, link)
        workloads = prep.workloads
        if self.workload_file in docs:
            table, j = self.table.rstrip("]." ).split("[")
            node = docs[self.workload_file][table][int(j)]
            job = validate(type(self.job.shape), node, self.workload_file,
                           {"base_dir": self.workload_file.parent})
            w = workloads[self.workload_index]
            items = list(getattr(w, table))
            items[int(j)] = job
            workloads = (
                workloads[: self.workload_index]
                + (w.model_copy(update={table: items}),)
                + workloads[self.workload_index + 1 :]
            )
        return replace(prep, scenario=scenario, topology=topo, workloads=workloads)


def path_parts(path: str) -> list[str | int]:
    """`pools[2].fabric.x` -> ["pools", 2, "fabric", "x"] (as `sim.assumptions.find` names it)."""
    parts: list[str | int] = []
    for piece in path.split("."):
        head, *idx = piece.replace("]", "").split("[")
        parts += ([head] if head else []) + [int(i) for i in idx]
    return parts


def rebuilt(
    topo: Topology,
    site_fabric: Mapping[str, SiteFabric],
    pool_fabric: Mapping[str, PoolFabric],
    link: float,
) -> Topology:
    """The campus with re-validated fabric tables swapped in: a site's by the topology file
    name it carries, a pool's by its name."""
    sites = []
    for si in topo.sites:
        fab = site_fabric.get(si.file)
        over = fab.inter_pool_oversubscription if fab else si.inter_pool_oversubscription
        sites.append(replace(si, inter_pool_oversubscription=over))
    pools = []
    for p in topo.pools:
        fabric = pool_fabric.get(p.name, p.fabric)
        pools.append(replace(p, site=sites[p.site.index], fabric=fabric))
    layout = lambda f: (f.domains_per_leaf_group, f.leaf_groups_per_pod)  # noqa: E731
    if any(layout(a.fabric) != layout(b.fabric) for a, b in zip(topo.pools, pools, strict=True)):
        return Topology(sites, pools, topo.phases, link)
    # Same domain layout: share the per-domain arrays, swap the figures (a 0.7 ms rebuild saved
    # per sample).
    out = copy.copy(topo)
    out.sites, out.pools, out.campus_link_tbit_per_s = sites, pools, link
    out.pool_by_name = {p.name: p for p in pools}
    return out


def baseline_mfu(prep, name: str) -> float:
    """The job's MFU as `sim explain` models it without a run: full size on an empty campus,
    times the expected failure factor."""
    job = find_job(prep, name)
    setup = full_size(prep, job)
    shape = job.shape
    p = shape.parallelism
    unit = p.tp * p.pp * p.cp
    tj = train_job(shape.model, shape.training, p, sum(setup.by_type.values()) // unit)
    return perf.step(tj, setup.placement(shape.partitioning)).mfu * expected_failures(prep, job, setup)


# -- the analysis ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Analysis:
    job: str
    mfu: float  # at every input's value
    inputs: tuple[Input, ...]
    unread: tuple[Assumption, ...]
    screening: sensitivity.Screening
    sobol: sensitivity.Indices
    swings: dict[str, tuple[float, float]]  # one at a time: MFU at the input's low and high
    posterior: sensitivity.Posterior | None
    seed: int
    # what-if MFU over the samples consistent with the observation: key -> (label, low, mid, high)
    whatif: dict[str, tuple[str, float, float, float]] = field(default_factory=dict)

    @property
    def screened_out(self) -> list[str]:
        return [n for n in self.screening.mu_star if n not in self.sobol.ST]

    def to_dict(self) -> dict:
        out = {
            "sobol": {
                n: {
                    "S1": self.sobol.S1[n],
                    "S1_conf": self.sobol.S1_conf[n],
                    "ST": self.sobol.ST[n],
                    "ST_conf": self.sobol.ST_conf[n],
                }
                for n in self.sobol.ranking()
            },
            "sobol_conf_level": self.sobol.conf_level,
            "morris_mu_star": self.screening.mu_star,
            "screened_out": self.screened_out,
            "swings": {n: list(v) for n, v in self.swings.items()},
            "prior": {i.name: [i.assumption.low, i.assumption.high] for i in self.inputs},
            "not_read_by_this_job": [key(a) for a in self.unread],
            "evaluations": self.screening.evaluations + self.sobol.evaluations
            + 2 * len(self.swings) + (self.posterior.samples if self.posterior else 0),
            "seed": self.seed,
        }
        if self.posterior is not None:
            post = self.posterior
            out["observed_mfu"] = post.observed
            out["tolerance"] = post.tolerance
            out["consistent_fraction"] = post.consistent_fraction
            out["posterior"] = {n: list(v) for n, v in post.ranges.items()}
            out["closest"] = [{"mfu": y, "inputs": x} for y, x in post.closest]
            out["mfu_range_over_prior"] = list(post.output_range)
            out["whatif_given_observation"] = {
                k: {"what": w[0], "low": w[1], "median": w[2], "high": w[3]}
                for k, w in self.whatif.items()
            }
        return out


def analyse(
    prep,
    name: str,
    samples: int = 256,
    seed: int = 0,
    observed: float | None = None,
    tolerance: float = 0.02,
    rejection_samples: int = 4096,
    trajectories: int = 20,
) -> Analysis:
    """Morris screening over every ranged input the job reads; Sobol S1/ST on those whose
    mean elementary effect is at least 2% of the largest; one-at-a-time swings; and, with an
    observation, rejection sampling over all of them. Deterministic for `seed`."""
    model = JobMFU(prep, name)
    if not model.inputs:
        raise InputError.single(
            "--sensitivity",
            f"no ranged assumption enters {name}'s MFU; tag inputs as "
            "{ value = X, assumed = [low, high], why = \"...\" } (see `sim assumptions FILE`)",
            str(prep.path),
        )
    problem = model.problem
    base = model.mfu({})
    screen = sensitivity.screen(model, problem, trajectories, seed)
    kept = screen.kept() or list(problem.names)
    sub = problem.subset(kept)

    def partial(X: np.ndarray) -> np.ndarray:  # the kept inputs vary, the rest stay at value
        return np.array([model.mfu(dict(zip(sub.names, row, strict=True))) for row in X])

    indices = sensitivity.sobol(partial, sub, samples, seed)
    swings = {
        i.name: (model.mfu({i.name: i.assumption.low}), model.mfu({i.name: i.assumption.high}))
        for i in model.inputs
    }
    post, whatif = None, {}
    if observed is not None:
        post = sensitivity.reject(model, problem, observed, tolerance, rejection_samples, seed)
        whatif = whatifs([model.explain(x) for x in post.accepted[:WHATIF_SAMPLES]])
    return Analysis(name, base, tuple(model.inputs), tuple(model.unread), screen, indices, swings,
                    post, seed, whatif)


WHATIF_SAMPLES = 200  # consistent samples the what-if intervals are taken over (the first ones)


def whatifs(explanations: list[Explanation]) -> dict[str, tuple[str, float, float, float]]:
    """Each what-if's MFU over explanations of consistent samples: 5th, 50th, 95th percentile."""
    if not explanations:
        return {}
    out = {}
    for a in explanations[0].ablations:
        v = np.array([next(x.mfu for x in e.ablations if x.key == a.key) for e in explanations])
        lo, mid, hi = np.percentile(v, [5, 50, 95])
        out[a.key] = (a.label, float(lo), float(mid), float(hi))
    v = np.array([e.combined for e in explanations])
    lo, mid, hi = np.percentile(v, [5, 50, 95])
    out["all_removed"] = ("every bottleneck removed together", float(lo), float(mid), float(hi))
    return out


def _labels(a: Analysis) -> dict[str, str]:
    return {i.name: i.label or i.name for i in a.inputs}


def format_analysis(a: Analysis) -> str:
    """The sensitivity ranking and, with an observation, what it rules in and out, as text."""
    ind, scr = a.sobol, a.screening
    n_sobol = ind.evaluations
    _short = _labels(a).__getitem__
    lines = [
        f"sensitivity of {a.job}'s modelled MFU ({a.mfu:.1%}) to the {len(a.inputs)} ranged "
        f"assumptions it reads (uniform over each range, seed {a.seed}):",
        f"Morris screening: {scr.evaluations:,} runs; "
        + (
            "screened out (mean effect below 2% of the largest): "
            + ", ".join(_short(n) for n in a.screened_out)
            if a.screened_out
            else "none screened out"
        ),
        f"Sobol indices: {n_sobol:,} runs, {ind.conf_level:.0%} intervals; "
        f"MFU at each input's low and high, the others at their values:",
        f"  {'assumption':62s} {'S1':>13s} {'ST':>13s}  {'MFU low .. high':>16s}",
    ]
    for n in ind.ranking():
        lo, hi = a.swings[n]
        lines.append(
            f"  {_short(n):62s} {ind.S1[n]:5.2f} ± {ind.S1_conf[n]:4.2f}  {ind.ST[n]:5.2f} ± "
            f"{ind.ST_conf[n]:4.2f}  {lo:6.1%} .. {hi:5.1%}"
        )
    if a.unread:
        lines.append(
            f"not read by this job's MFU: {len(a.unread)} more assumptions of the scenario "
            "(prices, serving, other jobs, other sites, perf constants that move it at neither "
            "end of their range); `sim assumptions FILE` lists them"
        )
    p = a.posterior
    if p is None:
        return "\n".join(lines)
    lines.append("")
    kept = round(p.consistent_fraction * p.samples)
    head = (
        f"observed MFU {p.observed:.1%} ± {p.tolerance:.1%}: {kept:,} of {p.samples:,} samples "
        f"reproduce it ({p.consistent_fraction:.2%} of the prior space)"
    )
    if not p.ranges:
        lines.append(head.replace(f"{kept:,} of", "none of"))
        lines.append(
            f"  over the declared ranges the model gives {p.output_range[0]:.1%} to "
            f"{p.output_range[1]:.1%}; the closest samples:"
        )
        top = ind.ranking()[:4]
        for y, x in p.closest:
            moved = ", ".join(f"{_short(k).split(' ', 1)[1]}={x[k]:.3g}" for k in top if k in x)
            lines.append(f"    MFU {y:.1%}: {moved}")
        return "\n".join(lines)
    lines += [head, f"  {'assumption':62s} {'prior':>17s}   {'surviving':>17s}"]
    if a.whatif:
        n = min(len(p.accepted), WHATIF_SAMPLES)
        tail = ["", f"what-ifs given the observation (MFU over {n} consistent samples: median, "
                "5-95%):"]
        for _, (what, lo, mid, hi) in sorted(a.whatif.items(), key=lambda kv: -kv[1][2]):
            tail.append(f"  {what:56s} {mid:6.1%}  ({lo:.1%} - {hi:.1%})")
    else:
        tail = []
    prior = {i.name: (i.assumption.low, i.assumption.high) for i in a.inputs}
    order = sorted(p.ranges, key=lambda n: _narrowing(p.ranges[n], prior[n]))
    for n in order:
        (lo, hi), (plo, phi) = p.ranges[n], prior[n]
        narrow = _narrowing((lo, hi), (plo, phi))
        mark = "  rules out " + _ruled_out((lo, hi), (plo, phi)) if narrow < 0.8 else ""
        lines.append(
            f"  {_short(n):62s} [{_num(plo)}, {_num(phi)}]   [{_num(lo)}, {_num(hi)}]{mark}"
        )
    return "\n".join(lines + tail)


def _num(v: float) -> str:
    return f"{v:7,.0f}" if abs(v) >= 1000 else f"{v:7.3g}"


def _narrowing(surv: tuple[float, float], prior: tuple[float, float]) -> float:
    """Surviving width over prior width (1 = the observation says nothing about it)."""
    width = prior[1] - prior[0]
    return (surv[1] - surv[0]) / width if width > 0 else 1.0


def _ruled_out(surv: tuple[float, float], prior: tuple[float, float]) -> str:
    parts = []
    if surv[0] > prior[0] + 0.1 * (prior[1] - prior[0]):
        parts.append(f"below {_num(surv[0]).strip()}")
    if surv[1] < prior[1] - 0.1 * (prior[1] - prior[0]):
        parts.append(f"above {_num(surv[1]).strip()}")
    return " and ".join(parts) or "its ends"


def tornado(a: Analysis, top: int = 12):
    """A plotly tornado chart: for each input (largest total-order Sobol index first), the MFU
    at its low and high end with the others at their values, labelled with S1 and ST."""
    import plotly.graph_objects as go

    names = [n for n in a.sobol.ranking()][:top][::-1]  # plotly draws the first bar lowest
    lo = [a.swings[n][0] for n in names]
    hi = [a.swings[n][1] for n in names]
    labels = [_labels(a)[n] for n in names]
    text = [
        f"ST {a.sobol.ST[n]:.2f} ± {a.sobol.ST_conf[n]:.2f}, S1 {a.sobol.S1[n]:.2f}" for n in names
    ]
    fig = go.Figure()
    for vals, side, colour in ((lo, "at low end", "#4c78a8"), (hi, "at high end", "#f58518")):
        fig.add_trace(
            go.Bar(
                y=labels,
                x=[100 * (v - a.mfu) for v in vals],
                base=100 * a.mfu,
                orientation="h",
                name=f"MFU with the input {side}",
                marker_color=colour,
                customdata=[[100 * v, t] for v, t in zip(vals, text, strict=True)],
                hovertemplate="%{y}<br>MFU %{customdata[0]:.1f}%<br>%{customdata[1]}<extra></extra>",
            )
        )
    fig.add_vline(x=100 * a.mfu, line_dash="dot", annotation_text=f"modelled {a.mfu:.1%}")
    if a.posterior is not None:
        fig.add_vrect(
            x0=100 * (a.posterior.observed - a.posterior.tolerance),
            x1=100 * (a.posterior.observed + a.posterior.tolerance),
            fillcolor="green", opacity=0.12, line_width=0,
            annotation_text=f"observed {a.posterior.observed:.0%}",
        )
    fig.update_layout(
        title=f"{a.job}: MFU swing of each assumption over its range (ranked by Sobol ST)",
        barmode="overlay", xaxis_title="MFU (%)", height=120 + 28 * len(names),
        legend={"orientation": "h"}, margin={"l": 380},
    )
    return fig
