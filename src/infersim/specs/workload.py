"""What the model is asked to do: batch, prompt and output lengths, the number formats, and how the KV
cache is held."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, PositiveInt, field_validator

from infersim.specs.dtypes import check_format
from infersim.specs.kvcache import KVCache


class Workload(BaseModel):
    """A static batch: `batch` sequences of `prompt_tokens` each generating `output_tokens`.

    `weights_dtype` is how weights are stored; matmuls run in the format's native compute format where
    the device has it (W8A8 as FP8 serving does; MXFP4/NVFP4 on a device with an fp4 peak), else in
    `activations_dtype` after dequantization (specs/dtypes.py). `kv_dtype` is the KV-cache format (of the
    part on the device), `kv` its budget, offload, paging and MLA decode form (specs/kvcache.py).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    batch: PositiveInt = 1
    prompt_tokens: PositiveInt = 1024
    output_tokens: PositiveInt = 256
    weights_dtype: str = "bf16"
    activations_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    kv: KVCache = KVCache()

    @field_validator("weights_dtype", "activations_dtype", "kv_dtype")
    @classmethod
    def _known_format(cls, value: str) -> str:
        return check_format(value)

    @property
    def context_tokens(self) -> int:
        """Tokens held per sequence at the end: prompt plus output."""
        return self.prompt_tokens + self.output_tokens

    @property
    def host_kv_dtype(self) -> str:
        """Format of the offloaded part of the cache: the offload's own, else `kv_dtype`."""
        offload = self.kv.offload
        return offload.dtype if offload is not None and offload.dtype else self.kv_dtype
