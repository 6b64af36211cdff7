"""What the model is asked to do: batch, prompt and output lengths, and the number formats."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from infersim.specs.dtypes import DType


class Workload(BaseModel):
    """A static batch: `batch` sequences of `prompt_tokens` each generating `output_tokens`.

    `weights_dtype` is how weights are stored; matmuls run in it where the device multiplies in it
    natively and it is 8 bits or more (W8A8, as FP8 serving does), else in `activations_dtype` after
    dequantization. `kv_dtype` is the KV-cache format.

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
    weights_dtype: DType = "bf16"
    activations_dtype: DType = "bf16"
    kv_dtype: DType = "bf16"
    moe_imbalance: float = Field(1.0, ge=1.0, description="MoE: the busiest expert-parallel device's tokens over "
                                 "the mean (1: uniform routing)")
    ssm_state_dtype: DType = "fp32"

    @property
    def context_tokens(self) -> int:
        """Tokens held per sequence at the end: prompt plus output."""
        return self.prompt_tokens + self.output_tokens
