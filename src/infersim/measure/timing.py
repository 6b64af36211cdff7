"""One way to time work: medians of a few repeats after warm-up.

On CPU a sample is `time.perf_counter` around the calls; on CUDA it is a pair of `torch.cuda.Event`s
around them (the GPU's timeline, so host gaps between kernels count, as they do for a user).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median
from typing import Any


@dataclass(frozen=True)
class Timer:
    """How to time on one device: `warmup` untimed calls, then the median of `repeats` samples."""

    device: Any  # torch.device
    warmup: int = 1
    repeats: int = 3

    def sync(self) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)

    def seconds(self, fn: Callable[[], Any], *, inner: int = 1, after: Callable[[], Any] | None = None,
                warmup: int | None = None, repeats: int | None = None, fastest: bool = False) -> float:
        """Median seconds per call of `fn` (the fastest sample with `fastest`: for a fixed cost, a floor that
        a busy machine can only raise). Each sample times `inner` back-to-back calls and divides by `inner`
        (for calls shorter than the clock's resolution); `after` runs after every sample, warm-up included,
        outside the timed region (e.g. to crop a cache back)."""
        for _ in range(self.warmup if warmup is None else warmup):
            for _ in range(inner):
                fn()
            if after is not None:
                after()
        self.sync()
        samples = []
        for _ in range(self.repeats if repeats is None else repeats):
            samples.append(self._sample(fn, inner) / inner)
            if after is not None:
                after()
        return float(min(samples) if fastest else median(samples))

    def _sample(self, fn: Callable[[], Any], inner: int) -> float:
        if self.device.type == "cuda":
            import torch

            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3  # elapsed_time is in milliseconds
        begin = time.perf_counter()
        for _ in range(inner):
            fn()
        return time.perf_counter() - begin
