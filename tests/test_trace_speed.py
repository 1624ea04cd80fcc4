"""The tracer's cost (issue 13): linear in the number of layers, and a length given by name as fast
as a literal one. Counted in Python calls (deterministic), not seconds."""

from __future__ import annotations

import cProfile
import pstats

import numpy as np
import pytest

from shapeviz import LSTM, Bidirectional, Sequential, trace


def _calls(n: int) -> int:
    model = Sequential([LSTM(2, return_sequences=True) for _ in range(n)], seed=0)
    profile = cProfile.Profile()
    profile.enable()
    trace(model, "(B, T, 2)")
    profile.disable()
    return sum(stat[1] for stat in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def test_tracing_a_deep_stack_is_linear_in_its_layers():
    """1000 stacked layers took 17 s: every layer call renamed every layer's parameters."""
    small, large = _calls(40), _calls(160)
    assert large / small < 4.6  # 4x the layers, 4x the work (and a little fixed cost), not 16x


def _trace_calls(**kwargs) -> int:
    model = Sequential([LSTM(8, return_sequences=True), LSTM(8)], seed=0)
    trace(model, "(B, T, 3)")  # built before counting
    profile = cProfile.Profile()
    profile.enable()
    trace(model, kwargs.pop("inputs"), all_steps=True, **kwargs)
    profile.disable()
    return sum(stat[1] for stat in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def test_a_length_given_by_name_traces_as_fast_as_a_literal():
    """All 300 steps with T given by name cost about what they cost with 300 written in the shape:
    3.6x the Python calls before, every x[t] going through the general index rules; 1.2x now (a
    cached lookup of the bound size)."""
    named = _trace_calls(inputs="(B, T, 3)", dims={"T": 300})
    literal = _trace_calls(inputs="(B, 300, 3)")
    assert named < 1.3 * literal, (named, literal)


def test_a_named_length_still_refuses_a_step_beyond_it():
    from shapeviz.core.backend import zeros
    from shapeviz.errors import ShapeError
    from shapeviz.tracing.context import TraceContext, activate
    from shapeviz.tracing.dims import Dim
    from shapeviz.tracing.symarray import SymArray

    ctx = TraceContext()
    with activate(ctx):
        ctx.declare("T")
        ctx.bind("T", 4, "test")
        x = SymArray([Dim.sym("T"), Dim.sym("B")], np.float32)
        assert x[3].shape == x[0].shape and len(x[-4].shape) == 1
        with pytest.raises(ShapeError, match="out of bounds"):
            x[4]
        with pytest.raises(ShapeError, match="out of bounds"):
            x[4] = zeros((1,), like=x)


def _table_calls(n: int) -> int:
    import io

    from rich.console import Console

    from shapeviz.render.tables import summary_table

    tr = trace(Sequential([Bidirectional(LSTM(2, return_sequences=True)) for _ in range(n)], seed=0), "(B, T, 2)",
               backward=False)
    profile = cProfile.Profile()
    profile.enable()
    Console(file=io.StringIO(), width=100).print(summary_table(tr))
    profile.disable()
    return sum(stat[1] for stat in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def test_the_summary_of_a_deep_stack_is_linear_in_its_layers():
    """Each row looked for its inner layers among all the others (quadratic in the layers)."""
    small, large = _table_calls(30), _table_calls(120)
    assert large / small < 4.6
