"""Agent operations (desktop)."""

from __future__ import annotations
