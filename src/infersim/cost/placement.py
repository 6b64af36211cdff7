"""Where weights, KV cache and activations live, and what a byte of each costs to move.

Resident tiers are filled fastest first: weights, then the KV cache, then activations (an LPU's or a
wafer's SRAM takes the weights; a GPU's HBM takes everything; a wafer's overflow goes to MemoryX). A tier
may hold only some classes (`MemoryTier.holds`: a wafer's MemoryX stores weights, while its KV cache and
activations stay on the wafer, systems.md C3, C5); the classes fewer tiers may hold are placed first, so
weights that overflow to MemoryX leave the SRAM the cache and activations need.
A class split across tiers streams each part at its tier's achieved bandwidth, so one byte of it costs
Σ_tier share_tier / (bandwidth_tier · memory fraction) seconds. What does not fit is charged to the
slowest tier and reported as not fitting.
"""

from __future__ import annotations

from dataclasses import dataclass

from infersim.cost.ops import Cost, Number
from infersim.specs.device import DeviceSpec

TENSOR_CLASSES = ("weights", "kv_cache", "activations")


@dataclass(frozen=True, slots=True)
class Placement:
    """Bytes of each tensor class per tier, each class's share per tier, and the seconds one byte of
    each class costs to move."""

    bytes_by_class_and_tier: dict[str, dict[str, float]]
    shares: dict[str, tuple[tuple[str, float], ...]]
    seconds_per_byte: dict[str, float]
    overflow_bytes: float

    def memory_seconds(self, cost: Cost) -> Number:
        """Time to move an op's traffic, class by class."""
        spb = self.seconds_per_byte
        return (cost.weight_bytes * spb["weights"] + cost.kv_bytes * spb["kv_cache"]
                + cost.activation_bytes * spb["activations"])

    def bytes_by_tier(self, weight_bytes: float, kv_bytes: float, activation_bytes: float) -> dict[str, float]:
        """Traffic split over tiers in the same shares as the footprints."""
        out: dict[str, float] = {}
        for cls, traffic in zip(TENSOR_CLASSES, (weight_bytes, kv_bytes, activation_bytes)):
            for tier, share in self.shares[cls]:
                out[tier] = out.get(tier, 0.0) + traffic * share
        return out


def place(device: DeviceSpec, weights_bytes: float, kv_bytes: float, activation_bytes: float) -> Placement:
    """Fill resident tiers fastest first with weights, then KV cache, then activations."""
    eff = device.efficiency.memory_fraction
    tiers = device.resident_tiers
    free = {t.name: t.usable_bytes for t in tiers}
    held: dict[str, dict[str, float]] = {}
    overflow = 0.0
    amounts = dict(zip(TENSOR_CLASSES, (weights_bytes, kv_bytes, activation_bytes)))
    allowed = {cls: [t for t in tiers if t.may_hold(cls)] for cls in TENSOR_CLASSES}
    for cls in sorted(TENSOR_CLASSES, key=lambda c: len(allowed[c])):  # stable: weights first among equals
        held[cls] = {}
        left = amounts[cls]
        for tier in allowed[cls]:
            take = min(left, free[tier.name])
            if take > 0:
                held[cls][tier.name] = take
                free[tier.name] -= take
                left -= take
        if left > 0:  # does not fit: charge the rest to the slowest tier that may hold it
            slowest = allowed[cls][-1].name
            held[cls][slowest] = held[cls].get(slowest, 0.0) + left
            overflow += left
        if not held[cls]:  # nothing of this class: it would stream from the fastest tier that may hold it
            held[cls][allowed[cls][0].name] = 0.0
    held = {cls: held[cls] for cls in TENSOR_CLASSES}
    bandwidth = {t.name: t.bytes_per_s * eff for t in tiers}
    shares: dict[str, tuple[tuple[str, float], ...]] = {}
    for cls, parts in held.items():
        total = sum(parts.values())
        shares[cls] = tuple((tier, amount / total if total else 1.0 / len(parts)) for tier, amount in parts.items())
    spb = {cls: sum(share / bandwidth[tier] for tier, share in parts) for cls, parts in shares.items()}
    return Placement(held, shares, spb, overflow)
