"""The traces of tests/render_cases.py, built once for the graph and text renderer tests."""

from __future__ import annotations

import functools

import pytest

from render_cases import CASES, fresh_names
from shapeviz.tracing.records import Trace


@functools.cache
def all_traces() -> dict[str, Trace]:
    """Every case's trace, with fresh layer names (``lstm_1``, whatever ran before). Read only."""
    with pytest.MonkeyPatch.context() as mp:
        out = {}
        for name, make in CASES.items():
            fresh_names(mp)
            out[name] = make()
        return out
