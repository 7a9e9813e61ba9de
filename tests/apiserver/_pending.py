"""Transcripts whose behaviour another piece of work brings, with the reason.

Tests built from them run and are expected to fail until that work lands (``xfail``,
``strict=False``: one that starts passing is reported, not failed); they are never skipped.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["PENDING", "PENDING_STEPS", "param"]

PENDING: dict[str, str] = {}

#: Single steps of otherwise passing transcripts that need what another piece of work brings.
PENDING_STEPS: dict[tuple[str, str], str] = {}


def param(value: Any, transcript: str, test_id: str) -> Any:
    """``pytest.param`` of a case drawn from ``transcript``, xfail while it is pending.

    A tuple ``value`` gives the values of several argument names.
    """
    reason = PENDING.get(transcript)
    marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
    values = value if isinstance(value, tuple) else (value,)
    return pytest.param(*values, id=test_id, marks=marks)
