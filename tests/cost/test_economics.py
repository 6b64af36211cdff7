"""Energy and cost per token, by hand."""

from __future__ import annotations

import pytest

from infersim.cost import economics
from infersim.specs.catalog import load_device


def test_joules_and_dollars_by_hand():
    assert economics.joules_per_token(700.0, 2.0, 100) == 14.0  # 700 W · 2 s / 100 tokens
    # $3.60/h is $0.001/s: 10 s for 1,000 tokens = $0.01 → $10 per million
    assert economics.usd_per_million_tokens(3.6, 10.0, 1000) == pytest.approx(10.0)


def test_purchase_only_devices_are_amortized_plus_electricity():
    groq = load_device("groq-lpu")
    assert groq.price.usd_per_hour is None and groq.price.usd_purchase
    hourly = economics.usd_per_device_hour(groq)
    capital = groq.price.usd_purchase / (economics.AMORTIZATION_YEARS * 8760)
    power = groq.tdp_watts / 1000 * economics.ELECTRICITY_USD_PER_KWH
    assert hourly == pytest.approx(capital + power)


def test_rental_rate_wins_when_given(h100):
    assert economics.usd_per_device_hour(h100) == h100.price.usd_per_hour
