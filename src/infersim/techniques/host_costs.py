"""Host time of the speculative-decoding reference implementations, relative to plain decoding.

Spec-Bench times EAGLE and Medusa with their authors' Python code on eager PyTorch, against Hugging Face
`generate`. At batch 1 such a step is largely host bound, and what the host does differs from a plain
step by more than the drafter's launches: each method verifies with its own copy of the Llama code (its
own KV cache, whose lengths it keeps on the CPU), builds and walks a token tree in Python, and syncs
with the device 11-13 times a step against once. Counting launches gives an EAGLE step 1.19 and a
Medusa step 1.02 plain steps at L = 40 layers; timing the host on a compute-free model gives 1.47 and
1.38 (benchmarks/speculative_launches.py, data/measured/speculative-launches.json).

Each part of a step costs a + b·L microseconds of host time on the measuring machine
(data/reference_host_costs.yaml). infersim keeps only the ratio of a part to the plain step at the
target's L,

    r_part(L) = (a_part + b_part·L + (τ − 1)·(a'_part + b'_part·L)) / (a_plain + b_plain·L)

(a', b' the growth per accepted token beyond the first, where the measurement saw steps of several lengths:
lookahead's bookkeeping and draft)

and scales it by its own plain host time on the device being estimated (the eager Hugging Face graph's
launches × τ_h, cost/estimate.py), so the device's host speed cancels out. Assumed: the ratio carries
over from the CPU host and torch 2.13 where it was measured to a GPU host and torch 2.0.1 (Spec-Bench);
CUDA's per-launch latency, absent on a CPU, would pull it toward the launch ratio.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from infersim.errors import InfersimError

PARTS = ("draft", "verify", "bookkeeping")

# The reference code of each drafter kind when a row or user names none (`Speculation.implementation`), and
# the codes infersim knows of; those without a row in data/reference_host_costs.yaml are not measured.
DEFAULT_IMPLEMENTATION = {"eagle": "eagle-1", "medusa": "medusa-1", "model": "hf-assisted", "ngram": "pld"}
IMPLEMENTATIONS = ("eagle-1", "eagle-2", "medusa-1", "hydra", "hf-assisted", "pld", "lookahead", "rest")


class LinearCost(BaseModel):
    """a + b·L microseconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    a: float
    b: float

    def at(self, layers: int) -> float:
        return self.a + self.b * layers


class PlainCost(BaseModel):
    """Plain decoding's host time per step, the ratios' denominator."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    total: LinearCost


class TokenGrowth(BaseModel):
    """How much a part grows per token a step accepts beyond the first (a + b·L µs each)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    draft: LinearCost | None = None
    bookkeeping: LinearCost | None = None


class ImplementationCosts(BaseModel):
    """One reference implementation's host time per step, by part (`draft` is EAGLE's tree expansion, Medusa's
    heads, a draft model's forwards or the n-gram lookup), for a step that accepts one token; `plain` when it
    was measured against its own plain baseline (another transformers version); `per_accepted_token` when the
    measurement saw steps of several lengths and some parts grow with the tokens taken (lookahead copies each
    accepted token's keys and values in every layer and compares more)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    draft: LinearCost
    verify: LinearCost
    bookkeeping: LinearCost
    plain: PlainCost | None = None
    per_accepted_token: TokenGrowth | None = None

    def part(self, name: str, layers: int, tokens_per_step: float = 1.0) -> float:
        """µs of host time of part `name` at L layers in a step that takes `tokens_per_step` tokens."""
        base = getattr(self, name).at(layers)
        growth = getattr(self.per_accepted_token, name, None) if self.per_accepted_token else None
        return base + (max(tokens_per_step, 1.0) - 1.0) * growth.at(layers) if growth else base


class StandIn(BaseModel):
    """An implementation not measured itself whose host time is taken as a measured one's (`code`), and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    why: str


class ReferenceHostCosts(BaseModel):
    """The measured table (data/reference_host_costs.yaml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source: str
    plain: PlainCost
    implementations: dict[str, ImplementationCosts]
    stand_ins: dict[str, StandIn] = {}

    def measured_code(self, implementation: str) -> str | None:
        """The measured code whose host time `implementation` pays: itself, its stand-in, or None."""
        if implementation in self.implementations:
            return implementation
        stand_in = self.stand_ins.get(implementation)
        return stand_in.code if stand_in else None

    def ratios(self, implementation: str, layers: int, tokens_per_step: float = 1.0) -> dict[str, float] | None:
        """r_part(L) for each part of `implementation`'s step (its stand-in's when it has one) taking
        `tokens_per_step` tokens (τ), or None when neither was measured."""
        code = self.measured_code(implementation)
        if code is None:
            return None
        costs = self.implementations[code]
        plain = (costs.plain or self.plain).total.at(layers)
        return {part: costs.part(part, layers, tokens_per_step) / plain for part in PARTS}


@lru_cache(maxsize=1)
def reference_host_costs() -> ReferenceHostCosts:
    """The shipped measurement, a malformed file as one line."""
    from infersim.specs.catalog import read_yaml, validation_message

    path = Path(str(resources.files("infersim.techniques").joinpath("data/reference_host_costs.yaml")))
    try:
        table = ReferenceHostCosts.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise InfersimError(f"{path}: {validation_message(exc)}") from None
    unknown = (set(table.implementations) | set(table.stand_ins)) - set(IMPLEMENTATIONS)
    if unknown:
        raise InfersimError(f"{path}: unknown implementations {sorted(unknown)}; known: {', '.join(IMPLEMENTATIONS)}")
    dangling = {name: s.code for name, s in table.stand_ins.items() if s.code not in table.implementations}
    if dangling:
        raise InfersimError(f"{path}: stand-ins for codes that are not measured: {dangling}")
    return table
