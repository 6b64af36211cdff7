"""The `hf` graph's Mamba launch counts (ops.HF_SSM_*, HF_SCAN_*) against the kernels Hugging Face's
MambaForCausalLM really dispatches on this machine: a tiny random model on the CPU, one layer's kernels as the
difference between a 2-layer and a 1-layer model, views and allocations left out. The constants were counted on
transformers 5.24; a failure here after an upgrade means Hugging Face's Mamba code changed: recount them."""

from __future__ import annotations

import collections

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "MambaForCausalLM"):
    pytest.skip("this transformers has no MambaForCausalLM", allow_module_level=True)

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from infersim.cost.ops import forward_ops  # noqa: E402
from infersim.specs.model import ModelSpec  # noqa: E402
from infersim.specs.workload import Workload  # noqa: E402

# aten ops that launch no kernel: views, shape queries and uninitialised allocations
_NO_KERNEL = {"view", "_unsafe_view", "as_strided", "empty", "empty_strided", "resolve_conj", "resolve_neg",
              "_reshape_alias", "result_type", "resize_", "as_strided_", "t", "transpose", "split",
              "split_with_sizes", "unsqueeze", "squeeze", "slice", "select", "expand", "permute", "detach", "alias",
              "unbind", "chunk", "lift_fresh", "sym_size", "_local_scalar_dense", "unfold"}


class _Kernels(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name not in _NO_KERNEL:
            self.count[name] += 1
        return func(*args, **(kwargs or {}))


def _hf_kernels_per_layer(dtype, tokens: int, decode: bool) -> int:
    def run(layers: int) -> int:
        torch.manual_seed(0)
        config = transformers.MambaConfig(hidden_size=64, num_hidden_layers=layers, state_size=16, conv_kernel=4,
                                          expand=2, time_step_rank=8, vocab_size=32)
        model = transformers.MambaForCausalLM(config).to(dtype).eval()
        ids = torch.randint(0, 32, (1, tokens))
        with torch.no_grad():
            if decode:
                cache = model(ids, use_cache=True).cache
                with _Kernels() as kernels:
                    model(torch.randint(0, 32, (1, 1)), cache=cache, use_cache=True)
            else:
                with _Kernels() as kernels:
                    model(ids, use_cache=True)
        return sum(kernels.count.values())

    return run(2) - run(1)


def _infersim_kernels_per_layer(dtype: str, tokens: int, decode: bool) -> int:
    model = ModelSpec(id="tiny", name="tiny", source="test", hidden_size=64, num_layers=1, vocab_size=32,
                      ssm={"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": 8})
    w = Workload(batch=1, prompt_tokens=tokens, weights_dtype=dtype, kv_dtype=dtype, activations_dtype=dtype)
    ops = forward_ops(model, w, "decode" if decode else "prefill", cached_tokens=tokens, graph="hf")
    return sum(op.launches for op in ops if op.name not in {"embed", "final_norm", "lm_head", "sample"})


@pytest.mark.parametrize(("dtype", "torch_dtype"), [("fp32", "float32"), ("bf16", "bfloat16")])
@pytest.mark.parametrize(("tokens", "decode"), [(8, True), (5, False), (9, False)])
def test_hf_mamba_layer_kernels_match_the_hf_graph(dtype, torch_dtype, tokens, decode):
    measured = _hf_kernels_per_layer(getattr(torch, torch_dtype), tokens, decode)
    assert _infersim_kernels_per_layer(dtype, tokens, decode) == measured
