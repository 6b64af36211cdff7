"""Speed benchmark: the API estimate and the CLI's cold start.

Run: `python benchmarks/speed.py` (writes nothing; paste the output into benchmarks/README.md).
Targets on the 2-core development machine: estimate ≤ 2 ms (llama-3.1-405b on h100-sxm, prompt 8192,
output 1024), `infersim --help` ≤ 0.5 s.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time


def time_estimate(repeats: int = 300) -> float:
    """Median seconds of one `infersim.estimate` call, specs already loaded (catalog cached)."""
    from infersim import estimate

    args = ("llama-3.1-405b", "h100-sxm")
    kwargs = dict(batch=1, prompt_tokens=8192, output_tokens=1024)
    estimate(*args, **kwargs)  # warm the catalog cache
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimate(*args, **kwargs)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_cold_start(repeats: int = 7) -> float:
    """Median wall seconds of `infersim --help` in a fresh process."""
    exe = [sys.executable, "-m", "infersim.cli", "--help"]
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(exe, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    est = time_estimate()
    cold = time_cold_start()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"estimate llama-3.1-405b on h100-sxm (prompt 8192, output 1024): {est * 1e3:.2f} ms (target <= 2 ms)")
    print(f"infersim --help cold start: {cold:.3f} s (target <= 0.5 s)")
    if est > 2e-3 or cold > 0.5:
        sys.exit(1)


if __name__ == "__main__":
    main()
