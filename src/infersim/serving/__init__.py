"""Serving at scale: capacity planning (`plan`); the discrete-event serving simulator will live here too."""

from infersim.serving.plan import Plan, plan

__all__ = ["Plan", "plan"]
