"""User-facing errors.

Every mistake a user can make (an unknown name, an impossible configuration, a malformed file) raises
`InfersimError` with one line that says what is wrong and what would work. The CLI prints that line on
stderr and exits with code 2; anything else escaping is a bug in infersim, not in the input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InfersimError(ValueError):
    """A problem with the user's input, stated in one line."""


def closest_names(name: str, choices: Iterable[str], limit: int = 3) -> list[str]:
    """Catalog names most like `name`: those containing it first ("h100" -> "h100-sxm"), shortest
    first, then the closest by difflib ratio (cutoff 0.4)."""
    pool = list(choices)
    wanted = name.lower()
    containing = sorted((c for c in pool if wanted in c), key=len)
    similar = difflib.get_close_matches(wanted, pool, n=limit, cutoff=0.4)
    return list(dict.fromkeys(containing + similar))[:limit]


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> InfersimError:
    """An `InfersimError` for an unknown model/device name that suggests the closest known ones."""
    pool = sorted(choices)
    near = closest_names(name, pool)
    hint = f"did you mean {', '.join(near)}?" if near else f"known {kind}s: {', '.join(pool)}"
    return InfersimError(f"unknown {kind} '{name}': {hint} (`infersim {kind}s` lists them)")
