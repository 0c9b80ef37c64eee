"""Fuzz harnesses (atheris) for every parser of hopx_proto, with a deterministic smoke mode."""

from __future__ import annotations
