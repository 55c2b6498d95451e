"""`sim serve FILE...`: output tokens/s per GPU, TPOT, TTFT, batch and instance size of one
served model on one GPU type at its latency targets, and what a million tokens cost."""

from __future__ import annotations

import json
from dataclasses import replace

import click

from sim import economics
from sim.errors import InputError
from sim.perf.serving import ServeResult, pareto, serve_table, served_model
from sim.spec.serve import ServeFile, load_serve


def _money(r: ServeResult, s) -> dict:
    rate, keep = s.usd_per_gpu_hour, 1.0 - s.gross_margin
    cin = economics.usd_per_million_tokens(r.gpu_s_per_input_token, rate)
    cout = economics.usd_per_million_tokens(r.gpu_s_per_output_token, rate)
    return {
        "usd_per_gpu_hour": rate,
        "cost_usd_per_million_input_tokens": cin,
        "cost_usd_per_million_output_tokens": cout,
        "price_usd_per_million_input_tokens": cin / keep,
        "price_usd_per_million_output_tokens": cout / keep,
    }


def evaluate(spec: ServeFile, sweep: bool = False) -> dict:
    """The JSON object `sim serve --json` prints for one file."""
    s, m = spec.serving, served_model(spec.model)
    res = serve_table(spec.model, s, s.gpu)
    out = {**res.to_dict(), **_money(res, s)}
    out["target"] = {
        "tpot_ms": s.tpot_ms,
        "ttft_ms": s.ttft_ms,
        "tokens_per_s_per_user": s.tokens_per_s_per_user,
    }
    if sweep:
        front = pareto(
            m,
            s.gpu,
            s.precision,
            s.prompt_tokens,
            s.output_tokens,
            s.gpus_per_instance,
            s.disaggregated,
        )
        keys = (
            "tokens_per_s_per_user",
            "tokens_per_s_per_gpu",
            "tpot_s",
            "ttft_s",
            "batch",
            "gpus_per_instance",
        )
        out["sweep"] = [{k: p.to_dict()[k] for k in keys} for p in front]
    return out


def _text(file: str, spec: ServeFile, o: dict) -> None:
    s = spec.serving
    click.secho(
        f"{file}: {s.gpu} {s.precision}, {s.prompt_tokens} in / {s.output_tokens} out"
        f" ({o['mode']} prefill)",
        bold=True,
    )
    click.echo(
        f"  output tokens/s/GPU   {o['tokens_per_s_per_gpu']:,.0f}"
        f"  (input {o['input_tokens_per_s_per_gpu']:,.0f})"
    )
    click.echo(
        f"  TPOT / TTFT           {o['tpot_s'] * 1e3:.1f} ms / {o['ttft_s'] * 1e3:.0f} ms"
        f"  ({o['tokens_per_s_per_user']:.1f} tokens/s per user)"
    )
    click.echo(
        f"  instance              {o['gpus_per_instance']} GPUs, batch {o['batch']:,}"
        + (f", prefill share {o['prefill_gpu_share']:.0%}" if o["prefill_gpu_share"] else "")
    )
    click.echo(
        f"  memory/GPU            weights {o['weights_gb_per_gpu']:.1f} GB + KV"
        f" {o['kv_gb_per_gpu']:.1f} GB of {o['hbm_gb']:.0f} GB"
    )
    if spec.model.experts:
        click.echo(
            f"  experts read/step     {o['experts_touched']:.1f} of {spec.model.experts} per layer"
        )
    click.echo(
        f"  per million tokens    cost ${o['cost_usd_per_million_input_tokens']:.3f} in /"
        f" ${o['cost_usd_per_million_output_tokens']:.3f} out at"
        f" ${o['usd_per_gpu_hour']:.2f}/GPU-hour; price"
        f" ${o['price_usd_per_million_input_tokens']:.3f} /"
        f" ${o['price_usd_per_million_output_tokens']:.3f}"
    )
    for p in o.get("sweep", []):
        click.echo(
            f"    {p['tokens_per_s_per_user']:8.1f} tok/s/user  {p['tokens_per_s_per_gpu']:10,.0f}"
            f" tok/s/GPU  {p['gpus_per_instance']:3d} GPUs  batch {p['batch']:,}"
        )


@click.command("serve")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (an object, or a list for several files)."
)
@click.option("--sweep", is_flag=True, help="Add the throughput-vs-interactivity Pareto curve.")
def command(files: tuple[str, ...], as_json: bool, sweep: bool) -> None:
    """Serving throughput of the model in each FILE at its latency targets (offline maximum
    without one), with the instance size, batch, latencies and cost per million tokens."""
    specs = [(f, load_serve(f)) for f in files]  # every file is checked before any output
    outs, problems = [], []
    for f, spec in specs:
        try:
            outs.append((f, spec, evaluate(spec, sweep)))
        except InputError as err:  # the model cannot serve it: say which file
            problems += [p if p.file else replace(p, file=f) for p in err.problems]
    if problems:
        raise InputError(problems)
    if as_json:
        objs = [{"file": f, **o} for f, _, o in outs]
        click.echo(json.dumps(objs[0] if len(objs) == 1 else objs, indent=2))
        return
    for f, spec, o in outs:
        _text(f, spec, o)
