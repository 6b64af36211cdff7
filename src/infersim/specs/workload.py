"""What the model is asked to do: batch, prompt and output lengths, the number formats, how the KV
cache is held, and how MoE routing is skewed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from infersim.specs.dtypes import check_format
from infersim.specs.kvcache import KVCache


class Workload(BaseModel):
    """A static batch: `batch` sequences of `prompt_tokens` each generating `output_tokens`.

    `weights_dtype` is how weights are stored (`mlp_weights_dtype`, when given, for the MLP and expert
    weights, as tt-metal keeps bfp4 MLPs beside bfp8 attention); matmuls run in the format's native compute format where
    the device has it (W8A8 as FP8 serving does; MXFP4/NVFP4 on a device with an fp4 peak), else in
    `activations_dtype` after dequantization (specs/dtypes.py). `kv_dtype` is the KV-cache format (of the
    part on the device), `kv` its budget, offload, paging and MLA decode form (specs/kvcache.py).

    `ssm_state_dtype` is the format of an SSM layer's recurrent state (d_in × N per sequence). Default
    fp32: Mamba's kernels run the recurrence in fp32 and Hugging Face transformers keeps the state so
    (its scan returns the final state in fp32 and the cache takes that dtype: checked on transformers
    5.24 with a bf16 MambaForCausalLM); mamba_ssm's own inference cache (`allocate_inference_cache`,
    fp32 commented out) and vLLM's default (`mamba_ssm_cache_dtype` 'auto') store it in the weights'
    format, so give "bf16" for those. An SSM's conv state (its last d_conv − 1 inputs) is kept in the
    activation format, as all three do.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    batch: PositiveInt = 1
    prompt_tokens: PositiveInt = 1024
    output_tokens: PositiveInt = 256
    weights_dtype: str = "bf16"
    mlp_weights_dtype: str | None = None
    activations_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    kv: KVCache = KVCache()
    moe_imbalance: float = Field(1.0, ge=1.0, description="MoE: the busiest expert-parallel device's tokens over "
                                 "the mean (1: uniform routing)")
    ssm_state_dtype: str = "fp32"

    @field_validator("weights_dtype", "activations_dtype", "kv_dtype", "ssm_state_dtype", "mlp_weights_dtype")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        return None if value is None else check_format(value)

    @property
    def mlp_dtype(self) -> str:
        """Format of the MLP and expert weights: `mlp_weights_dtype`, else `weights_dtype`."""
        return self.mlp_weights_dtype or self.weights_dtype

    @property
    def context_tokens(self) -> int:
        """Tokens held per sequence at the end: prompt plus output."""
        return self.prompt_tokens + self.output_tokens

    @property
    def host_kv_dtype(self) -> str:
        """Format of the offloaded part of the cache: the offload's own, else `kv_dtype`."""
        offload = self.kv.offload
        return offload.dtype if offload is not None and offload.dtype else self.kv_dtype
