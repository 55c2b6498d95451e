"""Transformer shape, training recipe and parallel layout, and the model-FLOPs formula.

FLOPs per token, forward pass (docs/perf-model.md):
    2 * layers * (attention params + active MLP params)  # every linear layer: 2 FLOPs per weight
  + 2 * vocab * hidden                                   # output logits
  + 4 * layers * seq_len * hidden                        # QK^T and AV, full s x s (NVIDIA convention)
A training step is 3x forward (backward = 2x forward) over global_batch * seq_len tokens.
Recomputation is hardware work, never model FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Precision = Literal["bf16", "fp16", "fp8", "fp4"]
Recompute = Literal["none", "selective", "full"]


@dataclass(frozen=True, slots=True)
class Model:
    """A decoder-only transformer. Gated MLP and tied embeddings are inferred from `params`.
    Mixture of experts: `experts` routed experts of width `ffn_hidden` each (gated), `top_k` of
    them per token, plus `shared_experts` always active; or, without `experts`, the MLP sizes
    follow from `params` and `active_params` (expert count and top-k derived when `ffn_hidden`
    is given)."""

    params: float
    layers: int
    hidden: int
    heads: int
    vocab: int
    seq_len: int
    kv_heads: int | None = None
    ffn_hidden: int | None = None
    active_params: float | None = None
    experts: int | None = None
    top_k: int | None = None
    shared_experts: int = 0
    # derived in __post_init__
    kv_dim: int = field(init=False, repr=False, compare=False)
    attn_params_layer: float = field(init=False, repr=False, compare=False)
    mlp_params_layer: float = field(init=False, repr=False, compare=False)
    mlp_active_params_layer: float = field(init=False, repr=False, compare=False)
    embedding_tables: int = field(init=False, repr=False, compare=False)
    gated: bool = field(init=False, repr=False, compare=False)
    ffn_active: float = field(init=False, repr=False, compare=False)
    structure_params: float = field(init=False, repr=False, compare=False)
    n_experts: int = field(init=False, repr=False, compare=False)
    n_top_k: int = field(init=False, repr=False, compare=False)
    expert_width: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = object.__setattr__
        h, n_l, v = self.hidden, self.layers, self.vocab
        kv_heads = self.kv_heads or self.heads
        ffn = self.ffn_hidden or 4 * h
        kv_dim = kv_heads * (h // self.heads)
        attn = 2.0 * h * h + 2.0 * h * kv_dim  # Q and O projections h x h; K, V h x kv_dim
        explicit = self.experts is not None and self.experts > 1
        moe = explicit or (self.active_params is not None and self.active_params < self.params)
        if moe:
            gated, tables = True, 2
        else:
            # Pick gated/plain MLP and tied/untied embeddings by which structure matches `params`.
            best = None
            for g, mats in ((True, 3), (False, 2)):
                for t in (1, 2):
                    err = abs(n_l * (attn + mats * h * ffn) + t * v * h - self.params)
                    if best is None or err < best[0]:
                        best = (err, g, t)
            _, gated, tables = best
        one = 3.0 * h * ffn  # one gated expert (or the dense MLP)
        n_exp, k, width = 1, 1, float(ffn)
        if explicit:  # the shape is exact: experts x one expert, (top_k + shared) active
            n_exp, k = int(self.experts), int(self.top_k or 1)
            mlp = (n_exp + self.shared_experts) * one
            mlp_active = (k + self.shared_experts) * one
        elif moe:  # MLP sizes follow from the two totals
            mlp = (self.params - tables * v * h) / n_l - attn
            mlp_active = (self.active_params - tables * v * h) / n_l - attn
            if self.ffn_hidden:
                n_exp = max(1, round(mlp / one))
                k = max(1, min(n_exp, round(mlp_active / one)))
            else:  # width unknown: one expert per active width
                width = max(mlp_active, 1.0) / 3.0 / h
                n_exp = max(1, round(mlp / max(mlp_active, 1.0)))
        else:  # dense: the shape is exact, `params` (often rounded) only picks the variant
            mlp = mlp_active = (3 if gated else 2) * h * ffn
        s(self, "structure_params", n_l * (attn + mlp) + tables * v * h)
        s(self, "kv_dim", kv_dim)
        s(self, "attn_params_layer", attn)
        s(self, "mlp_params_layer", max(mlp, 0.0))
        s(self, "mlp_active_params_layer", max(mlp_active, 0.0))
        s(self, "embedding_tables", tables)
        s(self, "gated", gated)
        s(self, "ffn_active", max(mlp_active, 0.0) / ((3 if gated else 2) * h))
        s(self, "n_experts", n_exp)
        s(self, "n_top_k", k)
        s(self, "expert_width", width)

    @property
    def is_moe(self) -> bool:
        return (self.experts is not None and self.experts > 1) or (
            self.active_params is not None and self.active_params < self.params
        )

    @property
    def shared_mlp_params_layer(self) -> float:
        """Weights of the always-active (shared-expert) MLP of one MoE layer."""
        return self.shared_experts * 3.0 * self.hidden * self.expert_width if self.is_moe else 0.0

    @property
    def linear_flops_per_token(self) -> float:
        """Forward FLOPs of the transformer layers' linear layers, per token (all layers)."""
        return 2.0 * self.layers * (self.attn_params_layer + self.mlp_active_params_layer)

    @property
    def logit_flops_per_token(self) -> float:
        return 2.0 * self.vocab * self.hidden

    @property
    def attention_flops_per_token(self) -> float:
        """Forward QK^T + AV FLOPs per token, all layers, counting the full s x s matrix."""
        return 4.0 * self.layers * self.seq_len * self.hidden

    @property
    def forward_flops_per_token(self) -> float:
        return (
            self.linear_flops_per_token
            + self.logit_flops_per_token
            + self.attention_flops_per_token
        )

    def structure_problems(self) -> list[tuple[str, str]]:
        """Inconsistencies between `params` and the shape, as (field, message) pairs."""
        out = []
        if self.hidden % self.heads:
            out.append(("model.heads", f"must divide hidden ({self.hidden})"))
        kvh = self.kv_heads or self.heads
        if self.heads % kvh:
            out.append(("model.kv_heads", f"must divide heads ({self.heads})"))
        if self.mlp_params_layer <= 0 or self.mlp_active_params_layer <= 0:
            out.append(
                (
                    "model.active_params" if self.is_moe else "model.params",
                    "too small for the attention and embedding weights of this shape",
                )
            )
        explicit = self.experts is not None and self.experts > 1
        if self.experts is not None and self.top_k is not None and self.top_k > self.experts:
            out.append(("model.top_k", f"exceeds model.experts ({self.experts})"))
        if (self.top_k is not None or self.shared_experts) and not explicit:
            out.append(("model.experts", "top_k and shared_experts need experts > 1"))
        if explicit and not self.ffn_hidden:
            out.append(("model.ffn_hidden", "required with experts: one expert's FFN width"))
        if (not self.is_moe or explicit) and abs(self.structure_params / self.params - 1) > 0.25:
            out.append(
                (
                    "model.params",
                    f"inconsistent with the shape, which gives {self.structure_params:.3g}",
                )
            )
        if explicit and self.active_params is not None:
            act = self.structure_params - self.layers * (
                self.mlp_params_layer - self.mlp_active_params_layer
            )
            if abs(act / self.active_params - 1) > 0.25:
                out.append(
                    (
                        "model.active_params",
                        f"inconsistent with experts/top_k, which give {act:.3g}",
                    )
                )
        if self.active_params is not None and self.active_params > self.params:
            out.append(("model.active_params", f"exceeds params ({self.params:g})"))
        return out


@dataclass(frozen=True, slots=True)
class Training:
    """Batching and numerics of a training job. `global_batch` and `micro_batch` are sequences.
    Software knobs of the recipe: `attention` "flash" (fused kernels, FlashAttention / cuDNN) or
    "unfused" (scores materialised, softmax memory-bound: Megatron and DeepSpeed before 2023);
    `tp_comm_overlap` pipelines tensor-parallel collectives with the GEMMs (Megatron-Core /
    Transformer Engine userbuffers)."""

    global_batch: int
    micro_batch: int = 1
    precision: Precision = "bf16"
    recompute: Recompute = "none"
    attention: Literal["flash", "unfused"] = "flash"
    tp_comm_overlap: bool = False


@dataclass(frozen=True, slots=True)
class Parallelism:
    """Megatron-style layout: tp x cp x dp x pp GPUs, `vp` virtual stages per pipeline rank.
    `ep` expert-parallel ranks folded over tp x cp x dp as Megatron-Core does (MoE only): the
    expert layers see the same GPUs as expert-tp x ep x expert-dp, expert-tp = tp when ep
    divides cp x dp, else 1. `zero_stage`: 0 replicated, 1 optimizer state sharded over the
    data-parallel group (Megatron's distributed optimizer, the default), 2 also gradients,
    3 also weights (FSDP / ZeRO-3)."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    vp: int = 1
    ep: int = 1
    zero_stage: int = 1

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    @property
    def replica_gpus(self) -> int:
        """GPUs of one model replica (one data-parallel rank)."""
        return self.tp * self.pp * self.cp

    @property
    def etp(self) -> int:
        """Expert tensor-parallel size: tp if ep fits in cp x dp (ETP = TP), else 1."""
        return self.tp if (self.cp * self.dp) % self.ep == 0 else 1

    @property
    def edp(self) -> int:
        """Expert data-parallel size: tp x cp x dp / (etp x ep)."""
        return max(1, self.tp * self.cp * self.dp // (self.etp * self.ep))


@dataclass(frozen=True, slots=True)
class TrainJob:
    model: Model
    training: Training
    parallelism: Parallelism

    @property
    def tokens_per_step(self) -> int:
        return self.training.global_batch * self.model.seq_len

    @property
    def model_flops_per_step(self) -> float:
        """Model FLOPs of one optimizer step: 3 x forward, no recomputation."""
        return 3.0 * self.model.forward_flops_per_token * self.tokens_per_step

    @property
    def hardware_flops_per_step(self) -> float:
        """FLOPs executed counting recomputation (full-attention convention), as papers' HFU."""
        m = self.model
        extra = 0.0
        if self.training.recompute == "full":
            extra = m.linear_flops_per_token + m.attention_flops_per_token
        elif self.training.recompute == "selective":
            extra = m.attention_flops_per_token
        return self.model_flops_per_step + extra * self.tokens_per_step
