"""`sim topology show FILE`: what a campus holds, what it draws, and how fast its fabric is."""

from __future__ import annotations

import datetime as dt
import json

import click
from rich.console import Console
from rich.table import Table

from sim.cli.validate import file_kind
from sim.spec.scenario import load_scenario
from sim.topology import TIERS, Topology, load_topology, scenario_topology


def summary(topo: Topology, at: dt.date) -> dict:
    """A JSON-ready description of the campus on a date (capacity online then)."""
    online = topo.gpus_online(at)
    power = topo.power_mw(at)
    by_type: dict[str, int] = {}
    for p in topo.pools:
        by_type[p.gpu.name] = by_type.get(p.gpu.name, 0) + online[p.name]
    counts = topo.switch_counts()
    pools = []
    for p in topo.pools:
        pools.append(
            {
                "name": p.name,
                "site": p.site.name,
                "gpu": p.gpu.name,
                "gpus": online[p.name],
                "gpus_planned": p.gpus,
                "nvlink_domain_gpus": p.gpus_per_domain,
                "domains": online[p.name] // p.gpus_per_domain,
                "switches": counts[p.name],
                "it_mw": round(power[p.name][0], 3),
                "facility_mw": round(power[p.name][1], 3),
                "pue": p.pue,
                "bandwidth_gbit_per_s_per_gpu": p.tier_bandwidth_gbit_per_s,
            }
        )
    sites = []
    for s in topo.sites:
        sp = [x for x in pools if x["site"] == s.name]
        sites.append(
            {
                "name": s.name,
                "cooling": s.cooling,
                "pue": s.pue,
                "gpus": sum(x["gpus"] for x in sp),
                "it_mw": round(sum(x["it_mw"] for x in sp), 3),
                "facility_mw": round(sum(x["facility_mw"] for x in sp), 3),
                "inter_pool_oversubscription": s.inter_pool_oversubscription,
            }
        )
    return {
        "at": at.isoformat(),
        "gpus_total": sum(online.values()),
        "gpus_by_type": by_type,
        "it_mw": round(sum(p[0] for p in power.values()), 3),
        "facility_mw": round(sum(p[1] for p in power.values()), 3),
        "domains": sum(x["domains"] for x in pools),
        "sites": sites,
        "pools": pools,
        "phases": [
            {
                "name": ph.name,
                "site": ph.site,
                "pool": ph.pool,
                "gpus": ph.gpus,
                "online": ph.online.isoformat(),
                "online_at_date": ph.online <= at,
            }
            for ph in topo.phases
        ],
    }


def _print(info: dict) -> None:
    con = Console()
    con.print(
        f"[bold]Campus on {info['at']}[/]: {info['gpus_total']:,} GPUs in {info['domains']:,} "
        f"NVLink domains, IT {info['it_mw']:,.1f} MW, facility {info['facility_mw']:,.1f} MW"
    )
    con.print("GPUs by type: " + ", ".join(f"{k} {v:,}" for k, v in info["gpus_by_type"].items()))
    t = Table(title="Pools")
    for col in ("pool", "site", "gpu", "GPUs", "domains", "IT MW", "facility MW"):
        t.add_column(col, justify="left" if col in ("pool", "site", "gpu") else "right")
    for p in info["pools"]:
        t.add_row(
            p["name"],
            p["site"],
            p["gpu"],
            f"{p['gpus']:,}",
            f"{p['domains']:,}",
            f"{p['it_mw']:,.1f}",
            f"{p['facility_mw']:,.1f}",
        )
    con.print(t)
    t = Table(title="Fabric: switches (all phases) and bandwidth per GPU, Gb/s per direction")
    for col in ("pool", "leaf", "spine", "core", *TIERS[:4]):
        t.add_column(col, justify="left" if col == "pool" else "right")
    for p in info["pools"]:
        sw, bw = p["switches"], p["bandwidth_gbit_per_s_per_gpu"]
        t.add_row(
            p["name"],
            f"{sw['leaf']:,}",
            f"{sw['spine']:,}",
            f"{sw['core']:,}",
            *(f"{bw[x]:,.0f}" for x in TIERS[:4]),
        )
    con.print(t)
    t = Table(title="Phases")
    for col in ("phase", "pool", "GPUs", "online", "online by date"):
        t.add_column(col)
    for ph in info["phases"]:
        t.add_row(
            ph["name"],
            ph["pool"],
            f"{ph['gpus']:,}",
            ph["online"],
            "yes" if ph["online_at_date"] else "no",
        )
    con.print(t)
    for s in info["sites"]:
        con.print(
            f"site {s['name']}: {s['cooling']}-cooled, PUE {s['pue']}, between pools "
            f"{s['inter_pool_oversubscription']}:1 oversubscribed"
        )


@click.group("topology")
def command() -> None:
    """Inspect topology files."""


@command.command("show")
@click.argument("file", type=click.Path())
@click.option(
    "--at",
    "at",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Date of the capacity shown (default: when the last phase is online).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(file: str, at: dt.datetime | None, as_json: bool) -> None:
    """Summarise a topology FILE (or every site of a scenario FILE)."""
    if file_kind(file) == "topology":
        topo = load_topology([file])
    else:
        topo = scenario_topology(load_scenario(file)[0])
    info = summary(topo, at.date() if at else topo.last_online)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        _print(info)
