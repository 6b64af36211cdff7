"""What the model is asked to do: batch, prompt and output lengths, and the number formats."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, PositiveInt, field_validator

from infersim.specs.dtypes import check_format


class Workload(BaseModel):
    """A static batch: `batch` sequences of `prompt_tokens` each generating `output_tokens`.

    `weights_dtype` is how weights are stored; matmuls run in the format's native compute format where
    the device has it (W8A8 as FP8 serving does; MXFP4/NVFP4 on a device with an fp4 peak), else in
    `activations_dtype` after dequantization (specs/dtypes.py). `kv_dtype` is the KV-cache format.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    batch: PositiveInt = 1
    prompt_tokens: PositiveInt = 1024
    output_tokens: PositiveInt = 256
    weights_dtype: str = "bf16"
    activations_dtype: str = "bf16"
    kv_dtype: str = "bf16"

    @field_validator("weights_dtype", "activations_dtype", "kv_dtype")
    @classmethod
    def _known_format(cls, value: str) -> str:
        return check_format(value)

    @property
    def context_tokens(self) -> int:
        """Tokens held per sequence at the end: prompt plus output."""
        return self.prompt_tokens + self.output_tokens
