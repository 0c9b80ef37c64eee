"""Agent operations (files)."""

from __future__ import annotations
