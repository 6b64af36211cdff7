"""Speed benchmark: the API estimate, a full capacity-planning search and the CLI's cold start.

Run: `python benchmarks/speed.py` (writes nothing; paste the output into benchmarks/README.md).
Targets on the 2-core development machine: estimate ≤ 2 ms (llama-3.1-405b on h100-sxm, prompt 8192,
output 1024); `plan` of llama-3.1-405b over every count of 1 to 72 B200s in an NVL72 and every layout on
each (an unreachable target forces the whole search) ≤ 2 s; `infersim --help` ≤ 0.5 s.
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


def time_plan(repeats: int = 3) -> tuple[float, int]:
    """Median seconds of a full `plan` search for llama-3.1-405b on up to 72 b200 (gb200-nvl72), and the
    number of layouts it estimated."""
    from infersim.serving.plan import plan

    def run():
        return plan("llama-3.1-405b", "b200", batch=8, prompt_tokens=8192, output_tokens=1024,
                    min_tokens_per_s_per_user=1e9, max_devices=72)

    run()
    samples, tried = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        tried = run().layouts_tried
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), tried


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
    planned, layouts = time_plan()
    cold = time_cold_start()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"estimate llama-3.1-405b on h100-sxm (prompt 8192, output 1024): {est * 1e3:.2f} ms (target <= 2 ms)")
    print(f"plan llama-3.1-405b on 1-72 b200 (gb200-nvl72), full search of {layouts} layouts: {planned:.2f} s "
          f"(target <= 2 s)")
    print(f"infersim --help cold start: {cold:.3f} s (target <= 0.5 s)")
    if est > 2e-3 or planned > 2.0 or cold > 0.5:
        sys.exit(1)


if __name__ == "__main__":
    main()
