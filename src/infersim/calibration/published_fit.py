"""Fit one fixed cost of a device on published end-to-end rows, where no microbenchmark of it exists.

A fixed cost x (cycles per all-reduce, seconds per kernel) adds the same time to every occurrence of what it
prices, so the step a row measures is linear in it, and each row gives

    x_i = (t_measured,i − t_i(0)) / (t_i(1) − t_i(0))        the fit x = mean_i x_i

t_i(x) infersim's step for row i with that value, predicted as validation scores the row (tokens/s per user, so
a step is its inverse; validate/score.py `predict_model`). The rows fitted on are named where the value is
(calibration/wafer.py, calibration/groq.py) and marked `used in fit` in published.yaml; the machine's other
rows stay held out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from statistics import mean

from infersim.specs.catalog import load_device
from infersim.specs.device import DeviceSpec


def fixed_cost_from_rows(case_ids: tuple[str, ...], with_value: Callable[[DeviceSpec, float], DeviceSpec]) -> float:
    """The mean of the rows' x_i (module docstring); `with_value(device, x)` is the row's device with the cost
    set to x. Every row must measure tokens/s per user."""
    from infersim.validate.cases import published_cases
    from infersim.validate.score import predict_model

    cases = {c.id: c for c in published_cases()}
    shares = []
    for case_id in case_ids:
        case = cases[case_id]
        assert case.metric == "output_tokens_per_s_per_user", case_id
        device = load_device(str(case.device))
        step = [1.0 / predict_model(replace(case, device=with_value(device, x)))[0] for x in (0.0, 1.0)]
        shares.append((1.0 / case.value - step[0]) / (step[1] - step[0]))
    return mean(shares)
