"""The reference implementations' measured host time: ratios to a plain step, and where speculate uses them."""

from __future__ import annotations

import pytest

from infersim.errors import InfersimError
from infersim.techniques import host_costs
from infersim.techniques.host_costs import PARTS, reference_host_costs
from infersim.techniques.speculative import make_speculation, speculate


def test_ratios_are_the_parts_over_the_plain_step():
    table = reference_host_costs()
    ratios = table.ratios("eagle-1", 40)
    plain = table.plain.total.a + 40 * table.plain.total.b
    eagle = table.implementations["eagle-1"]
    assert ratios["verify"] == pytest.approx((eagle.verify.a + 40 * eagle.verify.b) / plain)
    # the host work of a step is more than its launches say: EAGLE 1.19x and Medusa 1.02x a plain step's
    # launches at L = 40 (data/measured/speculative-launches.json), more in host time
    assert sum(ratios.values()) > 1.19 and sum(table.ratios("medusa-1", 40).values()) > 1.02
    assert table.ratios("hydra", 40) is None and table.measured_code("hydra") is None  # not measured
    # REST's codebase is Medusa's: priced as medusa-1's measured host time, and says so
    assert table.measured_code("rest") == "medusa-1" and table.ratios("rest", 40) == table.ratios("medusa-1", 40)
    # EAGLE-2's dynamic tree (6 draft forwards of top-10 expansions) costs the host more than EAGLE-1's static one
    assert sum(table.ratios("eagle-2", 40).values()) > sum(ratios.values())
    # hf-assisted and pld were measured on transformers 4.37.2: their ratios are to plain on the same version
    pld = table.implementations["pld"]
    assert pld.plain is not None and table.ratios("pld", 40)["verify"] == pytest.approx(
        pld.verify.at(40) / pld.plain.total.at(40))
    assert set(ratios) == set(PARTS) and "measured:" in table.source


def _eagle(runtime):
    spec = make_speculation(drafter={"kind": "eagle", "layers": 1, "draft_width": 13}, draft_tokens=5,
                            mean_accepted_tokens=3.5, verify_tokens=64)
    return speculate("vicuna-13b-v1.3", "a100-80gb", spec, prompt_tokens=512, output_tokens=64,
                     weights_dtype="fp16", activations_dtype="fp16", kv_dtype="fp16", runtime=runtime)[0]


def test_only_the_eager_reference_code_pays_them():
    eager, graph = _eagle("eager"), _eagle("cuda-graph")
    assert eager.bookkeeping_seconds > 0 and graph.bookkeeping_seconds == 0
    ratios = reference_host_costs().ratios("eagle-1", 40)
    # a host-bound step: verify at least its measured host share of the plain step, plus the bookkeeping
    assert eager.verify_seconds >= ratios["verify"] * eager.plain_tpot_seconds * (1 - 1e-9)
    assert eager.speedup < 3.5 / sum(ratios.values()) * 1.01


def test_the_drafter_kind_picks_the_reference_code_unless_one_is_named():
    eagle = make_speculation(drafter={"kind": "eagle"}, draft_tokens=5, mean_accepted_tokens=3.0)
    assert eagle.reference_code == "eagle-1"
    named = make_speculation(drafter={"kind": "ngram"}, draft_tokens=4, mean_accepted_tokens=1.5,
                             implementation="lookahead")
    assert named.reference_code == "lookahead"
    with pytest.raises(InfersimError, match="unknown implementation 'eagle-9'"):
        make_speculation(drafter={"kind": "eagle"}, draft_tokens=5, mean_accepted_tokens=3.0, implementation="eagle-9")


def _ngram_step(implementation):
    spec = make_speculation(drafter={"kind": "ngram"}, draft_tokens=4, mean_accepted_tokens=1.6, verify_tokens=56,
                            implementation=implementation)
    return speculate("vicuna-13b-v1.3", "a100-80gb", spec, prompt_tokens=512, output_tokens=64,
                     weights_dtype="fp16", activations_dtype="fp16", kv_dtype="fp16", runtime="eager")[0]


def test_an_unmeasured_code_pays_no_host_work_and_a_stand_in_pays_its_codes():
    free = _ngram_step("hydra")
    assert free.host_costs_from is None and free.bookkeeping_seconds == 0
    rest = _ngram_step("rest")  # priced as Medusa-1's code, whose codebase REST's is
    assert rest.host_costs_from == "medusa-1" and rest.bookkeeping_seconds > 0 and rest.tpot_seconds > free.tpot_seconds


def test_a_malformed_table_is_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "data" / "reference_host_costs.yaml"
    bad.parent.mkdir()
    bad.write_text("source: x\nplain: {total: {a: 1}}\n")
    monkeypatch.setattr(host_costs.resources, "files", lambda _: tmp_path)
    reference_host_costs.cache_clear()
    try:
        with pytest.raises(InfersimError) as err:
            reference_host_costs()
        assert "\n" not in str(err.value) and "reference_host_costs.yaml" in str(err.value)
    finally:
        reference_host_costs.cache_clear()


def test_a_stand_in_for_an_unmeasured_code_is_one_line(tmp_path, monkeypatch):
    """A stand-in must name a measured code: a table that does not is refused with one line."""
    from importlib import resources

    data = resources.files("infersim.techniques").joinpath("data/reference_host_costs.yaml").read_text()
    bad = tmp_path / "data" / "reference_host_costs.yaml"
    bad.parent.mkdir()
    bad.write_text(data.replace("code: medusa-1", "code: medusa-9"))
    monkeypatch.setattr(host_costs.resources, "files", lambda _: tmp_path)
    reference_host_costs.cache_clear()
    try:
        with pytest.raises(InfersimError, match="stand-ins for codes that are not measured") as err:
            reference_host_costs()
        assert "\n" not in str(err.value)
    finally:
        reference_host_costs.cache_clear()


def test_lookaheads_host_work_grows_with_the_tokens_a_step_takes():
    """Lookahead's draft and bookkeeping were measured on steps taking 1 and 4 tokens; the table's growth per
    accepted token is their fits' difference over 3 (data/measured/speculative-launches.json), so a row's τ
    prices the copies of the accepted tokens' keys and values it makes."""
    import json
    from pathlib import Path

    import numpy as np

    table = reference_host_costs()
    costs = table.implementations["lookahead"]
    measured = json.loads((Path(__file__).parents[2] / "data/measured/speculative-launches.json").read_text())
    steps = measured["wall_clock_lookahead"]["results_us"]["lookahead"]
    layers = [2, 4, 8]
    for part in ("draft", "bookkeeping"):
        fits = {k: np.polyfit(layers, [steps[str(n)]["by_tokens_per_step"][k]["median_us"][part] for n in layers], 1)
                for k in ("1", "4")}
        growth = getattr(costs.per_accepted_token, part)
        assert growth.b == pytest.approx((fits["4"][0] - fits["1"][0]) / 3, abs=1e-3)
        assert growth.a == pytest.approx((fits["4"][1] - fits["1"][1]) / 3, abs=1e-2)
    one, taken = table.ratios("lookahead", 40, 1.0), table.ratios("lookahead", 40, 1.63)
    plain = costs.plain.total.at(40) if costs.plain else table.plain.total.at(40)
    assert taken["bookkeeping"] - one["bookkeeping"] == pytest.approx(
        0.63 * costs.per_accepted_token.bookkeeping.at(40) / plain)
    assert taken["verify"] == one["verify"]  # its 1-token steps were the window's fill steps: no growth taken
    assert table.ratios("eagle-1", 40, 3.0) == table.ratios("eagle-1", 40)  # measured at one length only
