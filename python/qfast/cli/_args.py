"""Argument helpers shared by the command families: :func:`_levels_arg` (an int, or comma-separated ints)."""

from __future__ import annotations

import argparse


def _levels_arg(text: str) -> list[int] | int:
    try:
        parts = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or comma-separated ints, got {text!r}") from None
    return parts[0] if len(parts) == 1 else parts
