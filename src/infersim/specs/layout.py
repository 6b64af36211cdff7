"""How a model is spread over devices: tensor, pipeline, data, expert and context parallelism.

    devices = tp · pp · dp · cp

- `tp` (tensor, Megatron-LM, Shoeybi et al. 2019): every layer's query heads, MLP width and vocabulary are
  split over tp devices; key/value heads too, each kept whole (so when tp > H_kv each is copied on
  tp / H_kv devices); an AllReduce joins the partial outputs after the attention and the MLP.
- `pp` (pipeline, GPipe, Huang et al. 2019): the layers are cut into pp consecutive stages, one per group of
  tp · dp · cp devices; activations go from stage to stage by send/recv.
- `dp` (data): dp replicas of each stage, each serving batch / dp of the sequences.
- `ep` (expert): the routed experts of an MoE layer are split into ep groups over the tp · dp devices of a
  stage, which exchange their tokens by AllToAll; each expert is split further over the tp · dp / ep
  devices of its group (expert tensor parallelism). ep = 1: experts are split like a dense MLP.
- `cp` (context, ring attention, Liu et al. 2023): the prompt's tokens are split over cp devices in
  prefill, which pass their key/value blocks around a ring; in decode each holds 1/cp of every
  sequence's cache and the partial attention outputs are combined by an AllReduce.

Specs know nothing of time; `cost/parallel.py` turns a layout into per-device ops and collectives.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, PositiveInt

from infersim.errors import InfersimError
from infersim.specs.model import ModelSpec

AXES = ("tp", "pp", "dp", "ep", "cp")


class Layout(BaseModel):
    """Degrees of parallelism (module docstring); all 1 is one device."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tp: PositiveInt = 1
    pp: PositiveInt = 1
    dp: PositiveInt = 1
    ep: PositiveInt = 1
    cp: PositiveInt = 1

    @property
    def devices(self) -> int:
        """Devices the layout occupies: tp · pp · dp · cp (ep reuses the tp · dp devices of a stage)."""
        return self.tp * self.pp * self.dp * self.cp

    @property
    def stage_devices(self) -> int:
        """Devices of one pipeline stage: tp · dp · cp."""
        return self.tp * self.dp * self.cp

    @property
    def expert_tp(self) -> int:
        """Devices each expert is split over: tp · dp / ep."""
        return self.tp * self.dp // self.ep

    def describe(self) -> str:
        parts = [f"{axis}={getattr(self, axis)}" for axis in AXES if getattr(self, axis) > 1]
        return " ".join(parts) or "one device"

    def stage_layers(self, num_layers: int) -> tuple[int, ...]:
        """Layers of each pipeline stage: as even as possible, the first stages one longer."""
        base, extra = divmod(num_layers, self.pp)
        return tuple(base + (1 if stage < extra else 0) for stage in range(self.pp))

    def kv_heads_per_device(self, model: ModelSpec) -> int:
        """Key/value heads one tensor-parallel device holds: H_kv / tp, or one (copied) when tp > H_kv."""
        return max(1, model.num_key_value_heads // self.tp)

    def check(self, model: ModelSpec, batch: int, prompt_tokens: int) -> None:
        """One clear error for a layout this model and workload cannot take."""
        h, hkv = model.num_attention_heads, model.num_key_value_heads
        if h is not None and h % self.tp:
            raise InfersimError(f"tp={self.tp} does not divide {model.id}'s {h} attention heads; "
                                f"choose tp from {_divisors(h)}")
        if hkv is not None and not model.mla and self.tp > hkv and self.tp % hkv:
            raise InfersimError(f"tp={self.tp} is more than {model.id}'s {hkv} key/value heads but not a multiple "
                                f"of them, so the heads cannot be copied evenly; choose tp from "
                                f"{[d for d in _divisors(h) if d <= hkv or d % hkv == 0]}")
        if model.ssm is not None:
            d_in = model.ssm_inner_size
            if d_in % self.tp:
                raise InfersimError(f"tp={self.tp} does not divide {model.id}'s {d_in} SSM inner channels; "
                                    f"choose tp from {[d for d in _divisors(d_in) if d <= 64]}")
            if self.cp > 1:
                raise InfersimError(f"cp={self.cp}: {model.id}'s SSM layers carry a state through the tokens in "
                                    "order, which context parallelism cannot split; use cp=1")
        if self.pp > model.num_layers:
            raise InfersimError(f"pp={self.pp} is more than {model.id}'s {model.num_layers} layers; "
                                f"use pp <= {model.num_layers}")
        if batch % self.dp:
            raise InfersimError(f"dp={self.dp} does not divide the batch of {batch}; use a batch that is a "
                                f"multiple of {self.dp}")
        if self.cp > prompt_tokens:
            raise InfersimError(f"cp={self.cp} is more than the {prompt_tokens}-token prompt it splits")
        if self.ep > 1:
            if model.moe is None:
                raise InfersimError(f"ep={self.ep} needs a mixture-of-experts model; {model.id} is dense (use ep=1)")
            experts = model.moe.num_experts
            if experts % self.ep:
                raise InfersimError(f"ep={self.ep} does not divide {model.id}'s {experts} experts; choose ep from "
                                    f"{[d for d in _divisors(experts) if (self.tp * self.dp) % d == 0]}")
            if (self.tp * self.dp) % self.ep:
                raise InfersimError(f"ep={self.ep} must divide tp·dp = {self.tp * self.dp} (the devices of a "
                                    f"stage that share the experts)")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def layout_from(devices: int | None = None, **degrees: int | None) -> Layout:
    """A Layout from the degrees given (None = 1); with `devices` alone, tensor parallelism over all of them."""
    given = {axis: value for axis, value in degrees.items() if value is not None}
    for axis, value in given.items():
        if axis not in AXES:
            raise InfersimError(f"unknown parallelism '{axis}': choose from {', '.join(AXES)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InfersimError(f"--{axis} must be a whole number >= 1, got {value!r}")
    if devices is not None and not given:
        given = {"tp": devices}
    layout = Layout(**given)
    if devices is not None and layout.devices != devices:
        raise InfersimError(f"the layout {layout.describe()} uses {layout.devices} devices, not the {devices} "
                            f"asked for (tp·pp·dp·cp must equal --devices)")
    return layout


def split(total: int, parts: int) -> int:
    """One device's share of `total` split over `parts` devices (rounded up: the busiest device)."""
    return math.ceil(total / parts)
