"""infersim: hardware/model co-design of AI inference.

`infersim.estimate(model, device, batch=..., prompt_tokens=..., output_tokens=...)` predicts and
explains prefill and decode time, memory, energy and cost of one model on one device.
Heavy modules load on first use so `infersim --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["estimate", "load_model", "load_device", "InfersimError", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from infersim.cost.estimate import estimate
    from infersim.errors import InfersimError
    from infersim.specs.catalog import load_device, load_model

_LAZY = {
    "estimate": "infersim.cost.estimate",
    "load_model": "infersim.specs.catalog",
    "load_device": "infersim.specs.catalog",
    "InfersimError": "infersim.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'infersim' has no attribute {name!r}")
