"""Compare the model with the published measurements in calibration/*.csv, like with like.

Used by sim.perf.fit (which fits the constants), scripts/calibration_report.py (which writes
docs/calibration.md) and the tests. Assumptions the CSVs leave open are stated here, in the CSV
notes and in the report:
- micro-batch as the CSV gives it (1 where the source does not list it);
- training rows marked `use = reserved` (sources kept for independent validation) are never
  read by the fit nor reported.
The inference rows are sim/perf/inference_calibration.py's.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from sim.perf.model import Model, Parallelism, Training, TrainJob
from sim.perf.training import Placement, step

ROOT = Path(__file__).resolve().parents[2]
TRAINING_CSV = ROOT / "calibration" / "training.csv"



@dataclass(frozen=True)
class Row:
    source: str
    model: str
    gpu: str
    detail: str
    metric: str
    reported: float
    modelled: float
    note: str
    step_ratio: float = 1.0  # modelled / reported step time (throughputs inverted)

    @property
    def error(self) -> float:
        return (self.modelled - self.reported) / self.reported

    @property
    def log_error(self) -> float:
        """log(modelled / reported step time): positive when the model is slower."""
        return math.log(self.step_ratio)


def _read(path: Path) -> list[dict[str, str]]:
    text = "".join(line for line in path.open() if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(text)))


def training_job(r: dict[str, str]) -> tuple[TrainJob, Placement]:
    """The TrainJob and Placement of one training.csv row."""
    tp, pp, dp, cp, vp = (int(r[k]) for k in ("tp", "pp", "dp", "cp", "virtual_pipeline"))
    model = Model(
        params=float(r["params_b"]) * 1e9,
        layers=int(r["layers"]),
        hidden=int(r["hidden"]),
        heads=int(r["heads"]),
        vocab=int(r["vocab"]),
        seq_len=int(r["seq"]),
        kv_heads=int(r["kv_heads"]),
        ffn_hidden=int(r["ffn_hidden"]),
    )
    mb = int(r.get("micro_batch") or 1)
    training = Training(
        int(r["global_batch"]),
        mb,
        r["precision"],
        r["recompute"],
        r.get("attention") or "flash",
        (r.get("tp_comm_overlap") or "no") == "yes",
    )
    zero = int(r.get("zero_stage") or 1)
    job = TrainJob(model, training, Parallelism(tp, pp, dp, cp, vp, 1, zero))
    algo = r.get("algorithm") or "hierarchical"
    return job, Placement.single(r["gpu"], int(r["gpus"]), algorithm=algo)


def training_records(path: Path = TRAINING_CSV) -> list[dict[str, str]]:
    """The calibration rows (reserved sources left out)."""
    return [r for r in _read(path) if r.get("use", "fit") == "fit"]


def evaluate(r: dict[str, str], job: TrainJob, placement: Placement) -> Row:
    """One row compared like with like under the current constants."""
    res = step(job, placement)
    metric, reported = r["metric"], float(r["value"])
    n = placement.total_gpus
    if metric == "step_time_s":
        modelled = res.step_time_s
        ratio = modelled / reported
    elif metric == "tokens_per_s_per_gpu":
        modelled = res.tokens_per_s / n
        ratio = reported / modelled
    elif "counts recompute" in r["note"]:
        # Narayanan 2021 and Megatron-DeepSpeed report FLOP/s counting the recomputed forward.
        modelled = res.hardware_flops_per_step / res.step_time_s / n / 1e12
        metric = "tflops_per_gpu (HFU)"
        ratio = reported / modelled
    else:
        modelled = res.model_tflops_per_gpu
        ratio = reported / modelled
    par, t = job.parallelism, job.training
    detail = (
        f"{r['gpus']}x {r['precision']} tp{par.tp} pp{par.pp} dp{par.dp} cp{par.cp} vp{par.vp}"
        f" mb{t.micro_batch} z{par.zero_stage} {r['recompute']}"
    )
    return Row(
        r["source"], r["model"], r["gpu"], detail, metric, reported, modelled, r["note"], ratio
    )


def training_rows(path: Path = TRAINING_CSV) -> list[Row]:
    return [evaluate(r, *training_job(r)) for r in training_records(path)]


def mape(rows: list[Row]) -> float:
    return sum(abs(r.error) for r in rows) / len(rows)
