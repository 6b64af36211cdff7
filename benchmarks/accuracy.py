"""Accuracy benchmark: the `infersim validate` scorecard, summarized per category.

Run: `python benchmarks/accuracy.py [--measured FILE ...] [--device D]` (writes nothing; paste the
output into benchmarks/README.md under "Accuracy"). It calls the same library function as
`infersim validate` and prints the per-category counts and |error| statistics as a markdown table,
with the date and machine. Accuracy is reported, not asserted: it exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", action="append", default=[], help="a JSONL file from `infersim measure`")
    parser.add_argument("--device", default=None, help="device the --measured files are predicted on")
    args = parser.parse_args(argv)

    from infersim.validate import scorecard
    from infersim.validate.report import summary_markdown

    start = time.perf_counter()
    card = scorecard(args.measured, args.device)
    seconds = time.perf_counter() - start
    totals = card.to_dict()["totals"]
    machine = f"{os.cpu_count()}-core {platform.machine()}, Python {platform.python_version()}"
    sys.stdout.write(
        f"{date.today().isoformat()}, {machine}: {totals['cases']} cases, {totals['scored']} scored "
        f"({totals['does_not_fit']} not fitting), {totals['unsupported']} unsupported; scored in {seconds:.2f} s\n\n"
        f"{summary_markdown(card.summary)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
