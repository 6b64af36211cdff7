"""What the model is asked to do: batch, prompt and output lengths, and the number formats."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from infersim.specs.dtypes import DType


class Workload(BaseModel):
    """A static batch: `batch` sequences of `prompt_tokens` each generating `output_tokens`.

    `weights_dtype` is how weights are stored; matmuls run in it where the device multiplies in it
    natively and it is 8 bits or more (W8A8, as FP8 serving does), else in `activations_dtype` after
    dequantization. `kv_dtype` is the KV-cache format.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    batch: PositiveInt = 1
    prompt_tokens: PositiveInt = 1024
    output_tokens: PositiveInt = 256
    weights_dtype: DType = "bf16"
    activations_dtype: DType = "bf16"
    kv_dtype: DType = "bf16"
    moe_imbalance: float = Field(1.0, ge=1.0, description="MoE: the busiest expert-parallel device's tokens over "
                                 "the mean (1: uniform routing)")

    @property
    def context_tokens(self) -> int:
        """Tokens held per sequence at the end: prompt plus output."""
        return self.prompt_tokens + self.output_tokens
