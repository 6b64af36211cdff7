"""Techniques and what they buy on a given machine: speculative decoding (`speculative.py`)."""
