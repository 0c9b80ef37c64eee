"""Agent operations (agent)."""

from __future__ import annotations
