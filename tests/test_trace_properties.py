"""Properties of the tracer over random stacks (hypothesis).

- A random valid stack — one to three recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional)
  with random units and options, an optional Embedding in front, an optional Dense head —
  traced symbolically and bound to small sizes records exactly what its real run records.
- A mismatch injected at random into such a stack — one layer's kernel swapped for one made
  for another input size, an input declared with the wrong feature count, a mask of the
  wrong shape — is always a ShapeError (never another exception, never silence) that names
  the layer where the shapes stop fitting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shapeviz import GRU, LSTM, Bidirectional, Dense, Embedding, InputError, Masking, Sequential, ShapeError, SimpleRNN
from shapeviz.core.model import Model
from shapeviz.tracing import trace
from test_trace_concrete import assert_same_trace

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CELLS = [SimpleRNN, LSTM, GRU]
VOCAB = 12


@st.composite
def stacks(draw: st.DrawFn) -> dict[str, Any]:
    """A valid model: its layers, how to feed it and what it was given."""
    embed = draw(st.booleans())
    time_major = not embed and draw(st.integers(0, 3)) == 0  # every recurrent layer, or none
    F = draw(st.integers(1, 4))
    layers: list = []
    if embed:
        layers.append(Embedding(VOCAB, F, mask_zero=draw(st.booleans())))
    elif not time_major and draw(st.integers(0, 3)) == 0:  # Masking's mask is (B, T) of batch-first data only
        layers.append(Masking())
    depth = draw(st.integers(1, 3))
    for i in range(depth):
        cell = draw(st.sampled_from(CELLS))
        last = i == depth - 1
        options = {
            "return_sequences": draw(st.booleans()) if last else True,  # a layer below another reads sequences
            "go_backwards": draw(st.booleans()),
            "dropout": draw(st.sampled_from([0.0, 0.3])),
            "recurrent_dropout": draw(st.sampled_from([0.0, 0.3])),
            "time_major": time_major,
        }
        layer = cell(draw(st.integers(1, 5)), **options)
        if draw(st.integers(0, 2)) == 0:
            layer = Bidirectional(layer, merge_mode=draw(st.sampled_from(["concat", "sum", "mul", "ave"])))
        layers.append(layer)
    if draw(st.booleans()):
        layers.append(Dense(draw(st.integers(1, 4)), activation=draw(st.sampled_from([None, "tanh", "softmax"]))))
    return {"layers": layers, "embed": embed, "time_major": time_major, "F": F,
            "B": draw(st.integers(1, 3)), "T": draw(st.integers(1, 5)), "masked": draw(st.booleans()),
            "training": draw(st.booleans()), "seed": draw(st.integers(0, 2**16))}


def declaration(case: dict, F: int | None = None) -> str:
    if case["embed"]:
        return "(B, T)"
    F = case["F"] if F is None else F
    return f"(T, B, {F})" if case["time_major"] else f"(B, T, {F})"


def real_input(case: dict, rng: np.random.Generator) -> np.ndarray:
    B, T = case["B"], case["T"]
    if case["embed"]:
        return rng.integers(0, VOCAB, (B, T))
    shape = (T, B, case["F"]) if case["time_major"] else (B, T, case["F"])
    return rng.normal(size=shape).astype(np.float32)


def build(case: dict) -> Sequential:
    model = Sequential(case["layers"], seed=case["seed"])
    model.build((None, None) if case["embed"] else (None, None, case["F"]))
    return model


@SETTINGS
@given(stacks())
def test_a_random_stack_traces_as_it_runs(case: dict) -> None:
    model = build(case)
    rng = np.random.default_rng(case["seed"])
    x = real_input(case, rng)
    sym: dict = {"dims": {"B": case["B"], "T": case["T"]}}
    real: dict = {}
    if case["masked"]:
        sym["mask"], real["mask"] = "(B, T)", rng.random((case["B"], case["T"])) > 0.3
    common = {"training": case["training"]}
    symbolic = trace(model, declaration(case), **sym, **common)
    concrete = trace(model, x, **real, **common)
    assert_same_trace(symbolic, concrete)
    y = model.forward(x, mask=real.get("mask"))[0]
    assert concrete.outputs == {"y": y.shape}
    unbound = trace(model, declaration(case), mask="(B, T)" if case["masked"] else None, **common)
    assert unbound.outputs["y"][0 if not case["time_major"] or y.ndim == 2 else 1].symbol == "B"  # names kept


# -- injected mismatches ------------------------------------------------------------------------------------
def paths(model: Model) -> list[tuple[str, Any]]:
    """(path, layer) of every layer that owns a kernel, as the trace names them."""
    out = []
    for layer in model.layers:
        subs = layer.sublayers()
        for sub in subs or [layer]:
            if "kernel" in sub.params:
                out.append((f"{layer.name}/{sub.name}" if subs else layer.name, sub))
    return out


def caught(model: Model, inputs: Any, **kwargs: Any) -> ShapeError:
    """The ShapeError the trace raises; any other outcome fails the test."""
    with pytest.raises(ShapeError) as info:
        trace(model, inputs, **kwargs)
    return info.value


@SETTINGS
@given(stacks(), st.data())
def test_a_kernel_built_for_other_inputs_is_caught_at_its_layer(case: dict, data: st.DataObject) -> None:
    model = build(case)
    path, layer = data.draw(st.sampled_from(paths(model)), label="layer")
    key = data.draw(st.sampled_from(["kernel", "recurrent_kernel"] if "recurrent_kernel" in layer.params
                                    else ["kernel"]), label="weight")
    rows, cols = layer.params[key].shape
    wrong = rows + data.draw(st.sampled_from([-1, 1, 2]).filter(lambda d: rows + d > 0), label="rows")
    layer.params[key] = np.zeros((wrong, cols), np.float32)  # e.g. the layer was rebuilt for other inputs
    layer.grads[key] = np.zeros((wrong, cols), np.float32)
    error = caught(model, declaration(case), training=case["training"])
    assert error.layer == path, (error.layer, path, str(error))
    assert error.phase == "forward"


@SETTINGS
@given(stacks(), st.integers(1, 3))
def test_inputs_with_the_wrong_features_are_caught_at_the_first_layer(case: dict, extra: int) -> None:
    model = build(case)
    first = model.layers[0]
    if case["embed"]:  # ids are (B, T): features are the mistake
        error = caught(model, f"(B, T, {extra})")
        assert error.layer == first.name and "expects integer ids of rank 2" in error.problem
        error = caught(model, np.zeros((2, 3), np.float32))  # float features into an Embedding
        assert error.layer == first.name and "expects integer token ids" in error.problem
        return
    error = caught(model, declaration(case, F=case["F"] + extra), training=case["training"])
    reader = first if first.kind != "masking" else model.layers[1]  # Masking has no weights: the next layer reads F
    expected = reader.name if not reader.sublayers() else f"{reader.name}/{reader.sublayers()[0].name}"
    assert error.layer == expected, (error.layer, expected, str(error))
    assert f"was built for {case['F']} input features" in error.problem


@SETTINGS
@given(stacks(), st.sampled_from(["(B, T+1)", "(T+1, B)", "(B,)", "(B, T, 1)", "(B, 1)"]))
def test_a_mask_of_the_wrong_shape_is_caught_where_it_is_read(case: dict, mask: str) -> None:
    model = build(case)
    dims = {"B": case["B"] + 1, "T": case["T"] + 2}  # B != T and neither is 1: every wrong mask is wrong
    error = caught(model, declaration(case), dims=dims, mask=mask, training=case["training"])
    reader = model.layers[0]
    if reader.kind not in ("embedding", "masking") or not getattr(reader, "mask_zero", True):
        reader = next(layer for layer in model.layers if layer.kind not in ("embedding", "masking"))
    expected = reader.name if not reader.sublayers() else f"{reader.name}/{reader.sublayers()[0].name}"
    assert error.layer == expected, (error.layer, expected, str(error))
    assert "the mask must have shape (B, T)" in error.problem


def test_a_wrong_mask_for_a_layer_that_makes_one_is_an_error_in_a_real_run_too() -> None:
    model = Sequential([Embedding(VOCAB, 4, mask_zero=True), LSTM(3)], seed=0)
    ids = np.ones((2, 5), int)
    with pytest.raises(InputError, match=r"layer 'embedding_\d+' \(embedding\): the mask must have shape \(B, T\) = "
                                         r"\(2, 5\), got \(2, 6\)"):
        model.forward(ids, mask=np.ones((2, 6), bool))
    error = caught(model, "(B, T)", mask="(T, B)")
    assert error.layer == model.layers[0].name and "looks transposed" in (error.hint or "")
