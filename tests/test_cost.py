"""The operation counts of a trace (``trace.cost``): formulas in B and T that the real run bears out.

- The counts of every layer kind equal those of PyTorch's ``FlopCounterMode`` on the equivalent
  torch module (matmul FLOPs only, 2 per MAC), or differ by one documented convention, tested here:
  the core's backward also computes the gradient of each recurrent layer's initial state
  (``B·H·kH`` MACs per layer and direction), which torch skips when ``h_0`` needs no gradient.
  torch's fused CPU LSTM (``aten._lstm``) counts nothing, so the LSTM reference is an
  ``nn.LSTMCell`` run in a loop (the same matmuls); GRU and SimpleRNN run ``nn.GRU``/``nn.RNN``.
- With a mask the counts are the full grid's (the numpy core computes masked steps too); the real
  work, with ``L`` (the sum of the lengths) in place of ``B·T``, equals torch's count on the
  packed sequence.
- A symbolic T is traced over steps 0, 1 and T-1; the count of a step times the steps it stands
  for gives the formula: traced with every step at concrete sizes, the count equals the formula
  evaluated at those sizes (hypothesis).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shapeviz import GRU, LSTM, Bidirectional, Dense, Embedding, Masking, Sequential, SimpleRNN
from shapeviz.tracing import trace
from shapeviz.tracing.cost import LENGTHS, OpCount, packed
from shapeviz.tracing.dims import Dim

from render_cases import fresh_names

B, T, F, H = 3, 5, 4, 6
KH = {SimpleRNN: 1, GRU: 3, LSTM: 4}


@pytest.fixture(autouse=True)
def _names(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_names(monkeypatch)  # lstm_1, not lstm_7


def macs(trace_: Any, phase: str = "forward", **values: int) -> int:
    count = getattr(trace_.cost, phase)
    return trace_.cost.value(count.macs, **({"B": B, "T": T} | values))


# -- the formulas -----------------------------------------------------------------------------------
def test_an_lstm_costs_what_its_matmuls_do() -> None:
    model = Sequential([LSTM(H), Dense(2)])
    tr = trace(model, f"(B, T, {F})")
    lstm = tr.cost.layers["lstm_1"]
    assert lstm.forward.macs == 4 * H * (F + H) * Dim.sym("B") * Dim.sym("T")  # x @ kernel and h @ U, every step
    assert lstm.backward.macs == 2 * lstm.forward.macs  # two matmuls back for each one forward
    assert tr.cost.layers["dense_1"].forward.macs == H * 2 * Dim.sym("B")
    assert Dim.of(tr.cost.forward.flops) == 2 * Dim.of(tr.cost.forward.macs) + tr.cost.forward.elementwise \
        + tr.cost.forward.transcendental
    # the float32 cell evaluates σ with one exp over the (B, 4H) gate block and tanh(c) with np.tanh
    assert lstm.forward.transcendental == (4 * H + H) * Dim.sym("B") * Dim.sym("T")


def test_a_traced_step_stands_for_its_share_of_the_loop() -> None:
    tr = trace(Sequential([GRU(H, return_sequences=True), LSTM(H)]), f"(B, T, {F})")
    for layer in ("gru_1", "lstm_1"):
        for phase in ("forward", "backward"):
            steps = tr.cost.steps_of(layer, phase)
            assert [s.label for s in steps] == (["0", "1", "T-1"] if phase == "forward" else ["T-1", "1", "0"])
            assert sum((Dim.of(s.stands_for) for s in steps), Dim.const(0)) == Dim.sym("T")
            assert {str(s.stands_for) for s in steps} == {"1", "T-2"}
            per_step = steps[0].count.macs
            assert per_step == H * KH[GRU if layer == "gru_1" else LSTM] * H * Dim.sym("B")


def test_a_named_t_bound_to_a_few_steps_keeps_its_formula() -> None:
    model = Sequential([LSTM(H)])
    free = trace(model, f"(B, T, {F})")
    for t in (1, 2, 3):  # traced step by step: the last step stands for the rest of T
        bound = trace(model, f"(B, T, {F})", dims={"T": t})
        assert bound.cost.forward.macs == free.cost.forward.macs
        assert bound.cost.backward.as_dict() == free.cost.backward.as_dict()
        assert len(bound.cost.steps_of("lstm_1")) == t


def test_values_once_the_dims_are_bound() -> None:
    tr = trace(Sequential([LSTM(H)]), f"(B, T, {F})")
    assert tr.cost.value(tr.cost.forward.macs) is None
    bound = tr.bind(B=B, T=T)
    assert bound.cost.value(bound.cost.forward.macs) == B * T * 4 * H * (F + H)
    given_dims = trace(Sequential([LSTM(H)]), f"(B, T, {F})", dims={"B": B, "T": T})
    assert given_dims.cost.forward.macs == tr.cost.forward.macs  # the formula keeps its names
    assert given_dims.cost.value(given_dims.cost.forward.macs) == B * T * 4 * H * (F + H)


def test_a_trace_of_real_arrays_has_no_count() -> None:
    x = np.zeros((B, T, F), np.float32)
    assert trace(Sequential([LSTM(H)]), x).cost is None  # numpy ran it: nothing counted


def test_a_bidirectional_counts_both_directions_under_the_wrapper() -> None:
    tr = trace(Sequential([Bidirectional(GRU(H))]), f"(B, T, {F})")
    inner = [p for p in tr.cost.layers if p.startswith("bidirectional_1/")]
    assert len(inner) == 2
    one = tr.cost.layers[inner[0]].forward.macs
    assert tr.cost.layer("bidirectional_1").macs == 2 * Dim.of(one)
    assert tr.cost.layer("bidirectional_1", inclusive=False).macs == 0  # the merge multiplies nothing


def test_the_loss_is_counted_apart() -> None:
    tr = trace(Sequential([LSTM(H), Dense(1, activation="sigmoid")]), f"(B, T, {F})", labels="(B, 1)",
               loss="binary_crossentropy")
    assert "loss" in tr.cost.layers
    assert Dim.of(tr.cost.loss.elementwise) != 0
    total = sum((rec.total for p, rec in tr.cost.layers.items() if p != "loss"), OpCount())
    assert total.as_dict() == tr.cost.total.as_dict()


# -- masks --------------------------------------------------------------------------------------------
def test_a_mask_changes_the_real_work_not_what_numpy_computes() -> None:
    model = Sequential([LSTM(H, return_sequences=True), GRU(H)])
    plain = trace(model, f"(B, T, {F})")
    masked = trace(model, f"(B, T, {F})", mask="(B, T)")
    assert masked.cost.forward.macs == plain.cost.forward.macs  # masked steps are computed, then carried
    assert plain.cost.real() is None
    real = masked.cost.real()
    L = Dim.sym(LENGTHS)
    assert real.macs == L * (4 * H * (F + H) + 3 * H * (H + H))
    with_masking = trace(Sequential([Masking(), LSTM(H)]), f"(B, T, {F})")  # the mask comes from the data
    assert with_masking.cost.real().macs == L * 4 * H * (F + H)
    assert packed(Dim.sym("B") * Dim.sym("T") * 7 + Dim.sym("B") * 2, "B", "T") == L * 7 + Dim.sym("B") * 2


def test_an_embedding_mask_counts_the_real_work_of_the_layers_after_it() -> None:
    tr = trace(Sequential([Embedding(20, F, mask_zero=True), LSTM(H)]), "(B, T)")
    assert tr.cost.layers["lstm_1"].mask is not None
    assert tr.cost.layers["embedding_1"].forward.macs == 0  # a lookup
    assert tr.cost.real().macs == Dim.sym(LENGTHS) * 4 * H * (F + H)


def test_a_mask_with_a_number_for_an_axis_has_no_real_work_formula() -> None:
    tr = trace(Sequential([LSTM(H)]), f"(B, {T}, {F})", mask=f"(B, {T})")
    assert tr.cost.masked and tr.cost.real() is None


# -- the reference: torch's FlopCounterMode ------------------------------------------------------------
torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402


def torch_macs(run: Any) -> tuple[int, int]:
    """MACs torch counts in the forward and backward of ``run(x)`` (FlopCounterMode: 2 FLOPs per MAC)."""
    torch.manual_seed(0)
    x = torch.randn(B, T, F, requires_grad=True)
    with FlopCounterMode(display=False) as fwd:
        y = run(x)
    with FlopCounterMode(display=False) as bwd:
        y.sum().backward()
    return fwd.get_total_flops() // 2, bwd.get_total_flops() // 2


def cell_loop(cell: Any, reverse: bool = False) -> Any:
    """An nn.LSTMCell over the time axis: torch's matmuls of an LSTM, which FlopCounterMode counts."""
    def run(x: Any) -> Any:
        state = None
        order = range(T - 1, -1, -1) if reverse else range(T)
        for t in order:
            state = cell(x[:, t], state)
        return state[0]
    return run


def ours(layers: list, declaration: str = f"(B, T, {F})") -> tuple[int, int]:
    tr = trace(Sequential(layers), declaration)
    return macs(tr), macs(tr, "backward")


def h0_grad(kinds: list) -> int:
    """The convention: the core's backward also computes dh_0 (B·H·kH MACs per layer and direction)."""
    return sum(B * H * KH[k] * H for k in kinds)


def test_simple_rnn_equals_torch() -> None:
    rnn = torch.nn.RNN(F, H, batch_first=True)
    fwd, bwd = torch_macs(lambda x: rnn(x)[0][:, -1])
    assert ours([SimpleRNN(H)]) == (fwd, bwd + h0_grad([SimpleRNN]))


def test_gru_equals_torch() -> None:
    gru = torch.nn.GRU(F, H, batch_first=True)
    fwd, bwd = torch_macs(lambda x: gru(x)[0][:, -1])
    assert ours([GRU(H)]) == (fwd, bwd + h0_grad([GRU]))


def test_lstm_equals_torch_cells() -> None:
    assert torch_macs(lambda x: torch.nn.LSTM(F, H, batch_first=True)(x)[0].sum())[0] == 0  # fused: uncounted
    fwd, bwd = torch_macs(cell_loop(torch.nn.LSTMCell(F, H)))
    assert ours([LSTM(H)]) == (fwd, bwd + h0_grad([LSTM]))


def test_bidirectional_equals_torch() -> None:
    gru = torch.nn.GRU(F, H, batch_first=True, bidirectional=True)
    fwd, bwd = torch_macs(lambda x: gru(x)[0][:, -1])
    assert ours([Bidirectional(GRU(H))]) == (fwd, bwd + h0_grad([GRU, GRU]))
    cells = torch.nn.LSTMCell(F, H), torch.nn.LSTMCell(F, H)
    fwd, bwd = torch_macs(lambda x: cell_loop(cells[0])(x) + cell_loop(cells[1], reverse=True)(x))
    assert ours([Bidirectional(LSTM(H), merge_mode="sum")]) == (fwd, bwd + h0_grad([LSTM, LSTM]))


def test_stacked_equals_torch() -> None:
    gru = torch.nn.GRU(F, H, num_layers=2, batch_first=True)
    fwd, bwd = torch_macs(lambda x: gru(x)[0][:, -1])
    assert ours([GRU(H, return_sequences=True), GRU(H)]) == (fwd, bwd + h0_grad([GRU, GRU]))


def test_dense_equals_torch() -> None:
    linear = torch.nn.Linear(F, H)
    torch.manual_seed(0)
    x = torch.randn(B, F, requires_grad=True)
    with FlopCounterMode(display=False) as fwd:
        y = linear(x)
    with FlopCounterMode(display=False) as bwd:
        y.sum().backward()
    tr = trace(Sequential([Dense(H)]), f"(B, {F})")
    assert (tr.cost.value(tr.cost.forward.macs, B=B), tr.cost.value(tr.cost.backward.macs, B=B)) == (
        fwd.get_total_flops() // 2, bwd.get_total_flops() // 2)  # dx and dW: no convention needed


def test_embedding_equals_torch() -> None:
    emb = torch.nn.Embedding(20, F)
    ids = torch.randint(0, 20, (B, T))
    with FlopCounterMode(display=False) as fwd:
        y = emb(ids)
    with FlopCounterMode(display=False) as bwd:
        y.sum().backward()
    tr = trace(Sequential([Embedding(20, F)]), "(B, T)")
    assert (macs(tr), macs(tr, "backward")) == (fwd.get_total_flops() // 2, bwd.get_total_flops() // 2) == (0, 0)
    assert tr.cost.backward.elementwise == Dim.sym("B") * Dim.sym("T") * F  # the scatter-add of the rows


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_masked_real_work_equals_torch_on_packed_sequences(kind: str) -> None:
    lengths = torch.tensor([5, 3, 2])
    module = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind](F, H, batch_first=True)
    x = torch.randn(B, T, F)
    with FlopCounterMode(display=False) as fc:  # the packed path runs decomposed: counted for LSTM too
        module(torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True))
    layer = {"rnn": SimpleRNN, "gru": GRU, "lstm": LSTM}[kind](H)
    tr = trace(Sequential([layer]), f"(B, T, {F})", mask="(B, T)")
    real = tr.cost.real()
    assert tr.cost.value(real.macs, **{LENGTHS: int(lengths.sum())}) == fc.get_total_flops() // 2
    assert macs(tr) == B * T * KH[type(layer)] * H * (F + H)  # what the numpy core computes


# -- the formula against a run of every step (hypothesis) ---------------------------------------------
@st.composite
def models(draw: st.DrawFn) -> tuple[list, bool]:
    layers: list = []
    depth = draw(st.integers(1, 2))
    for i in range(depth):
        cell = draw(st.sampled_from([SimpleRNN, LSTM, GRU]))
        layer = cell(draw(st.integers(1, 4)), return_sequences=i < depth - 1 or draw(st.booleans()),
                     go_backwards=draw(st.booleans()))
        layers.append(Bidirectional(layer) if draw(st.booleans()) else layer)
    if draw(st.booleans()):
        layers.append(Dense(draw(st.integers(1, 3)), activation=draw(st.sampled_from([None, "tanh", "softmax"]))))
    return layers, draw(st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(), st.integers(1, 4), st.integers(1, 7), st.sampled_from(["float32", "float64"]))
def test_the_formula_at_b_and_t_is_the_count_of_every_step(case: tuple, b: int, t: int, dtype: str) -> None:
    layers, masked = case
    model = Sequential(layers, dtype=dtype)
    formula = trace(model, f"(B, T, {F})", mask="(B, T)" if masked else None)
    counted = trace(model, f"({b}, {t}, {F})", mask=f"({b}, {t})" if masked else None, all_steps=True)
    for path, rec in counted.cost.layers.items():
        for phase in ("forward", "backward"):
            want = getattr(rec, phase).as_dict()
            got = getattr(formula.cost.layers[path], phase).as_dict()
            for key, value in got.items():
                assert formula.cost.value(value, B=b, T=t) == want[key].value, (path, phase, key)


@pytest.mark.parametrize("steps", [2, 3, 6])
def test_a_concrete_loop_traced_at_three_steps_counts_all_of_them(steps: int) -> None:
    from shapeviz import OneToMany

    def model() -> Any:
        return OneToMany([LSTM(H)], Dense(2), steps=steps)

    few = trace(model(), "(B, 3)")  # the decoding loop at steps 0, 1 and steps-1
    every = trace(model(), "(B, 3)", all_steps=True)
    assert few.cost.total.as_dict() == every.cost.total.as_dict()
    concrete_t = trace(Sequential([GRU(H)]), f"(B, {T + 3}, {F})")  # T = 8 > 3: steps 0, 1, 7
    assert len(concrete_t.cost.steps_of("gru_1")) == 3
    assert concrete_t.cost.value(concrete_t.cost.forward.macs, B=1) == (T + 3) * 3 * H * (F + H)


# -- renderers --------------------------------------------------------------------------------------
def _render(renderable: Any, width: int) -> str:
    import io

    from rich.console import Console
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_cost_table_of_every_case_reads_at_80_columns() -> None:
    from render_cases import CASES

    from shapeviz.render.tables import cost_table
    for name, make in CASES.items():
        text = _render(cost_table(make()), 80)
        assert "…" not in text and all(len(line) <= 80 for line in text.splitlines()), (name, text)
        assert "Total" in text and ("Cost per timestep" in text) == (name != "one_to_one")  # no loop in a Dense stack


def test_the_cost_table_gives_formulas_and_values() -> None:
    from shapeviz.render.tables import cost_table
    tr = trace(Sequential([LSTM(H, return_sequences=True), GRU(H)]), f"(B, T, {F})", mask="(B, T)",
               dims={"B": B, "T": T})
    text = _render(cost_table(tr), 120)
    fwd = B * T * (4 * H * (F + H) + 3 * H * 2 * H)
    assert f"= {fwd:,}" in text  # the forward total, bound
    assert "Real work with the mask" in text and "456*L" in text  # 4·6·10 + 3·6·12 per (sample, step)
    assert "0, 1, T-1" in text and "T-1, 1, 0" in text


def test_a_trace_of_real_arrays_has_no_cost_table() -> None:
    from shapeviz.errors import ConfigError
    from shapeviz.render.tables import cost_table
    with pytest.raises(ConfigError, match="no operation counts"):
        cost_table(trace(Sequential([LSTM(H)]), np.zeros((B, T, F), np.float32)))


def test_the_json_carries_the_counts() -> None:
    import json

    import jsonschema

    from shapeviz.render.jsonform import dumps, schema
    tr = trace(Sequential([Embedding(20, F, mask_zero=True), LSTM(H)]), "(B, T)", dims={"B": B})
    doc = json.loads(dumps(tr))
    jsonschema.validate(doc, schema())
    cost = doc["cost"]
    assert cost["forward"]["macs"] == {"formula": f"{4 * H * (F + H)}*B*T", "value": None}
    assert cost["real"]["forward"]["macs"]["formula"] == f"{4 * H * (F + H)}*L"
    assert [s["stands_for"] for s in cost["steps"] if s["phase"] == "forward"] == [1, "T-2", 1]
    bound = json.loads(dumps(tr.bind(T=T)))
    assert bound["cost"]["forward"]["macs"]["value"] == B * T * 4 * H * (F + H)
    jsonschema.validate(json.loads(dumps(trace(Sequential([LSTM(H)]), np.zeros((B, T, F), np.float32)))),
                        schema())  # cost: null
