"""Trace.bind: a trace of a symbolic T bound to a size keeps only the steps that exist, each once,
as a trace made with that size records them."""

import pytest

from shapeviz import GRU, LSTM, Dense, Sequential
from shapeviz.tracing.tracer import trace

EXPECTED = {1: [0], 2: [0, 1], 3: [0, 1, 2], 4: [0, 1, 3], 5: [0, 1, 4], 50: [0, 1, 49]}


def _model():
    return Sequential([LSTM(4, return_sequences=True), GRU(3), Dense(1)], seed=0)


def _steps(tr):
    return [(s.layer, s.t, s.phase, s.tensors) for s in tr.steps]


@pytest.mark.parametrize("n", sorted(EXPECTED))
def test_bind_keeps_the_steps_that_exist_once(n):
    model = _model()
    symbolic = trace(model, "(B, T, 2)")
    assert [s.label for s in symbolic.steps_of(model.layers[0].name)] == ["0", "1", "T-1"]
    bound = symbolic.bind(T=n, B=5)
    for layer in model.layers[:2]:
        for phase in ("forward", "backward"):
            steps = [s.t for s in bound.steps_of(layer.name, phase)]
            want = EXPECTED[n] if phase == "forward" else EXPECTED[n][::-1]
            assert steps == want, (layer.name, phase)
    # the same records, in the same order and with the same shapes, as a trace made with that size
    concrete = trace(model, "(B, T, 2)", dims={"T": n, "B": 5}).bind()
    assert _steps(bound) == _steps(concrete)
    assert symbolic.steps_of(model.layers[0].name)[2].label == "T-1"  # bind made a copy


def test_bind_without_a_time_size_keeps_every_step():
    symbolic = trace(_model(), "(B, T, 2)")
    assert [s.label for s in symbolic.bind(B=3).steps] == [s.label for s in symbolic.steps]
