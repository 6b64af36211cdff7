"""Energy per token and cost per million tokens from a device's power and price.

Assumptions (stated once, here):
- The device draws its TDP for the whole run: an upper bound (decode at small batch draws less).
- A device with only a purchase price costs purchase / (AMORTIZATION_YEARS · 8,760 h) plus its TDP
  at ELECTRICITY_USD_PER_KWH per hour of use; a rental rate already includes both.
"""

from __future__ import annotations

from infersim.specs.device import DeviceSpec

SECONDS_PER_HOUR = 3600.0
HOURS_PER_YEAR = 8760.0
AMORTIZATION_YEARS = 4.0  # assumed: straight-line depreciation period common for data-centre GPUs (4-6 years)
ELECTRICITY_USD_PER_KWH = 0.08  # assumed: US industrial average, EIA Electric Power Monthly 2024 (~8 c/kWh)


def usd_per_device_hour(device: DeviceSpec) -> float:
    """Rental rate if the catalog gives one, else amortized purchase plus electricity at TDP."""
    if device.price.usd_per_hour is not None:
        return device.price.usd_per_hour
    assert device.price.usd_purchase is not None
    capital = device.price.usd_purchase / (AMORTIZATION_YEARS * HOURS_PER_YEAR)
    return capital + device.tdp_watts / 1000.0 * ELECTRICITY_USD_PER_KWH


def joules_per_token(watts: float, seconds: float, tokens: float) -> float:
    """Energy per token: watts · seconds / tokens."""
    return watts * seconds / tokens


def usd_per_million_tokens(usd_per_hour: float, seconds: float, tokens: float) -> float:
    """Cost per million tokens: (USD/h ÷ 3600) · seconds / tokens · 1e6."""
    return usd_per_hour / SECONDS_PER_HOUR * seconds / tokens * 1e6
