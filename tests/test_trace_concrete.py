"""The tracer against the real run: every layer, option and mode, and every model in examples/.

Each case builds one model and traces it twice: symbolically (``"(B, T, 3)"`` with sizes given
in ``dims``) and on real numpy arrays of those sizes. The symbolic trace, bound to the sizes,
must record exactly what the real run recorded: every layer's inputs, outputs, states,
parameters and BPTT memory, every traced timestep's tensors forward and backward, and every
gradient. A real run of the model gives the output shape the traces report.

The last part checks that tracing leaves a model as it was.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from shapeviz import (GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, EncoderDecoder, Masking, OneToMany,
                      Sequential, ShapeError, SimpleRNN)
from shapeviz.core import backend
from shapeviz.core.losses import BinaryCrossentropy, SoftmaxCrossEntropy
from shapeviz.core.model import Model
from shapeviz.tracing import Trace, trace
from shapeviz.tracing.dims import Dim
from test_examples import load_example

B, T, F = 2, 5, 3  # T > 3: a symbolic T is traced at 0, 1, T-1, the real run keeps those three
CELLS = [SimpleRNN, LSTM, GRU]


class Single(Model):
    """A model of one layer whose output is the layer's own: how return_state is traced
    (Sequential refuses a return_state layer, its output being a tuple)."""

    kind = "single"

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = layer

    @property
    def layers(self) -> list:
        return [self.layer]

    @property
    def mode(self) -> str:
        return "many-to-one"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple:
        self.layer.ensure_built(x, self.init_rng, self.dtype)
        return self.layer.forward(x, mask=mask, training=training, rng=rng)

    def backward(self, dy: Any, cache: Any) -> Any:
        return self.layer.backward(dy, cache)


# -- the comparison -------------------------------------------------------------------------------
def as_dim(d: Any) -> Dim:
    return Dim.of(d)


def records(tr: Trace) -> dict[str, Any]:
    """Everything a trace recorded about shapes, as plain comparable data."""
    return {
        "mode": tr.mode,
        "outputs": tr.outputs,
        "labels": tr.labels,
        "loss": tr.loss,
        "layers": [(r.path, r.kind, r.depth, r.inputs, r.outputs, r.states, r.params, r.param_count,
                    as_dim(r.memory)) for r in tr.layers],
        "steps": [(s.layer, s.label, s.phase, s.tensors) for s in tr.steps],
        "grads": [(g.param, g.shape, g.param_shape) for g in tr.grads],
        "memory": tr.memory,
    }


def names_in(obj: Any) -> set[str]:
    """The dim names left anywhere in a record (a bound trace must have none)."""
    if isinstance(obj, Dim):
        return obj.names
    if isinstance(obj, dict):
        return set().union(*(names_in(v) for v in obj.values())) if obj else set()
    if isinstance(obj, (list, tuple)):
        return set().union(*(names_in(v) for v in obj)) if obj else set()
    return set()


def assert_same_trace(symbolic: Trace, real: Trace) -> None:
    """The symbolic trace, with its sizes substituted, records what the real run recorded."""
    bound = records(symbolic.bind())
    want = records(real)
    assert names_in(bound) == set(), f"unbound dims after bind(): {names_in(bound)}"
    for key in want:
        if key in ("layers", "steps", "grads"):
            assert len(bound[key]) == len(want[key]), (key, len(bound[key]), len(want[key]))
            for i, (got, expected) in enumerate(zip(bound[key], want[key])):
                assert got == expected, f"{key}[{i}]:\n  symbolic {got}\n  real     {expected}"
        else:
            assert bound[key] == want[key], f"{key}: symbolic {bound[key]}, real {want[key]}"
    assert all(g.ok for g in real.grads) and all(g.ok for g in symbolic.grads)


def check(model: Model, sym: dict, real: dict, **common: Any) -> tuple[Trace, Trace]:
    """Trace ``model`` symbolically (``sym``: inputs, dims, mask, labels) and on real arrays
    (``real``: inputs, mask, labels), with the ``common`` options, and compare."""
    symbolic = trace(model, **sym, **common)
    concrete = trace(model, **real, **common)
    assert_same_trace(symbolic, concrete)
    y = model.forward(real["inputs"], mask=real.get("mask"), training=False)[0]
    ys = y if isinstance(y, (tuple, list)) else [y]
    assert list(concrete.outputs.values()) == [tuple(v.shape) for v in ys]
    return symbolic, concrete


# -- data ----------------------------------------------------------------------------------------
def normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


def a_mask(rng: np.random.Generator, b: int = B, t: int = T) -> np.ndarray:
    mask = rng.random((b, t)) > 0.3
    mask[:, 0] = True  # every sequence has a step
    mask[0, -2:] = False  # and one has padding at the end
    return mask


CASES: dict[str, Callable[[np.random.Generator], tuple]] = {}


def case(name: str) -> Callable:
    def register(fn: Callable) -> Callable:
        CASES[name] = fn
        return fn
    return register


def seq(model: Model, rng: np.random.Generator, t: int = T, mask: bool = False, **common: Any) -> tuple:
    """A (B, T, F) case: the symbolic and the real arguments."""
    sym: dict = {"inputs": "(B, T, 3)", "dims": {"B": B, "T": t}}
    real: dict = {"inputs": normal(rng, B, t, F)}
    if mask:
        sym["mask"], real["mask"] = "(B, T)", a_mask(rng, t=t)
    return model, sym, real, common


# -- Dense, Embedding, Dropout, Masking -------------------------------------------------------------
@case("dense (B, F)")
def _(rng):
    return (Sequential([Dense(4, activation="tanh"), Dense(2)], seed=0),
            {"inputs": "(B, 3)", "dims": {"B": B}}, {"inputs": normal(rng, B, F)}, {})


@case("dense (B, T, F)")
def _(rng):
    return seq(Sequential([Dense(4, activation="relu"), Dense(2, activation="softmax")], seed=0), rng)


@case("dense no bias")
def _(rng):
    return seq(Sequential([Dense(4, use_bias=False)], seed=0), rng)


@case("embedding")
def _(rng):
    return (Sequential([Embedding(9, 4), SimpleRNN(3)], seed=0),
            {"inputs": "(B, T)", "dims": {"B": B, "T": T}}, {"inputs": rng.integers(0, 9, (B, T))}, {})


@case("embedding mask_zero")
def _(rng):
    ids = rng.integers(1, 9, (B, T))
    ids[0, -2:] = 0
    return (Sequential([Embedding(9, 4, mask_zero=True), LSTM(3, return_sequences=True), Dense(2)], seed=0),
            {"inputs": "(B, T)", "dims": {"B": B, "T": T}}, {"inputs": ids}, {})


@case("embedding mask_zero and a given mask")
def _(rng):
    ids = rng.integers(0, 9, (B, T))
    return (Sequential([Embedding(9, 4, mask_zero=True), GRU(3)], seed=0),
            {"inputs": "(B, T)", "dims": {"B": B, "T": T}, "mask": "(B, T)"},
            {"inputs": ids, "mask": a_mask(rng)}, {})


@case("dropout training")
def _(rng):
    return seq(Sequential([Dense(4), Dropout(0.5), Dense(2)], seed=0), rng, training=True)


@case("dropout noise_shape training")
def _(rng):
    return seq(Sequential([Dense(4), Dropout(0.5, noise_shape=(None, 1, None)), LSTM(2)], seed=0), rng,
               training=True)


@case("dropout inference")
def _(rng):
    return seq(Sequential([Dropout(0.5, noise_shape=(None, 1, None)), Dense(2)], seed=0), rng)


@case("masking")
def _(rng):
    model, sym, real, common = seq(Sequential([Masking(), GRU(4, return_sequences=True), Dense(2)], seed=0), rng)
    real["inputs"][1, -2:] = 0.0  # padded steps
    return model, sym, real, common


# -- recurrent layers and their options --------------------------------------------------------------
OPTIONS = {
    "last step": {},
    "return_sequences": {"return_sequences": True},
    "go_backwards": {"go_backwards": True},
    "go_backwards sequences": {"go_backwards": True, "return_sequences": True},
    "dropout": {"dropout": 0.3, "recurrent_dropout": 0.4},
    "no bias": {"use_bias": False, "return_sequences": True},
    "unroll": {"unroll": True, "return_sequences": True},
}
# the general (non-fused) step of each cell and its Keras options: every activation appears
CELL_OPTIONS = {
    SimpleRNN: {f"activation={a}": {"activation": a, "return_sequences": True}
                for a in ("sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "linear", "softsign")},
    LSTM: {
        "hard_sigmoid_keras2 (Keras 2's LSTM)": {"recurrent_activation": "hard_sigmoid_keras2", "dropout": 0.3,
                                                "recurrent_dropout": 0.4},
        "relu / hard_sigmoid": {"activation": "relu", "recurrent_activation": "hard_sigmoid",
                                "return_sequences": True, "go_backwards": True},
        "softsign / linear no bias": {"activation": "softsign", "recurrent_activation": "linear", "use_bias": False,
                                      "unit_forget_bias": False},
    },
    GRU: {
        "reset_after=False": {"reset_after": False, "return_sequences": True, "dropout": 0.3,
                              "recurrent_dropout": 0.4},
        "reset_after=False hard_sigmoid_keras2 (Keras 2's GRU)": {"reset_after": False,
                                                                  "recurrent_activation": "hard_sigmoid_keras2"},
        "reset_after=False no bias go_backwards": {"reset_after": False, "use_bias": False, "go_backwards": True},
        "softsign / hard_sigmoid": {"activation": "softsign", "recurrent_activation": "hard_sigmoid",
                                    "return_sequences": True, "dropout": 0.3, "recurrent_dropout": 0.4},
        "linear / sigmoid no bias": {"activation": "linear", "use_bias": False},
    },
}
for _cell in CELLS:
    for _opt, _kw in {**OPTIONS, **CELL_OPTIONS[_cell]}.items():
        def _make(rng, cell=_cell, kw=_kw):
            return seq(Sequential([cell(4, **kw), Dense(2)], seed=0), rng, training=True)
        case(f"{_cell.__name__} {_opt}")(_make)

        def _masked(rng, cell=_cell, kw=_kw):
            return seq(Sequential([cell(4, **kw), Dense(2)], seed=0), rng, mask=True, training=True)
        case(f"{_cell.__name__} {_opt} masked")(_masked)

    for _rs in (False, True):
        def _time_major(rng, cell=_cell, rs=_rs, masked=False):
            # a time_major layer given "(T, B, F)" is right: T and B keep their roles
            sym = {"inputs": "(T, B, 3)", "dims": {"B": B, "T": T}}
            real = {"inputs": normal(rng, T, B, F)}
            if masked:  # the mask stays (B, T)
                sym["mask"], real["mask"] = "(B, T)", a_mask(rng)
            return (Sequential([cell(4, time_major=True, return_sequences=True),
                                cell(3, time_major=True, return_sequences=rs)], seed=0),
                    sym, real, {})
        case(f"{_cell.__name__} time_major return_sequences={_rs}")(_time_major)
        case(f"{_cell.__name__} time_major return_sequences={_rs} masked")(
            lambda rng, f=_time_major: f(rng, masked=True))

        def _state(rng, cell=_cell, rs=_rs):
            return seq(Single(cell(4, return_state=True, return_sequences=rs), seed=0), rng, mask=True)
        case(f"{_cell.__name__} return_state return_sequences={_rs}")(_state)

    for _merge in ("concat", "sum", "mul", "ave", None):
        for _rs in (False, True):
            def _bidi(rng, cell=_cell, merge=_merge, rs=_rs):
                layers = [Bidirectional(cell(4, return_sequences=rs), merge_mode=merge)]
                if merge is not None:  # None outputs the list [y_fw, y_bw]: nothing reads it but the model's caller
                    layers.append(Dense(2))
                return seq(Sequential(layers, seed=0), rng, mask=True, training=True)
            case(f"Bidirectional({_cell.__name__}) {_merge} return_sequences={_rs}")(_bidi)

    def _bidi_state(rng, cell=_cell):
        layer = Bidirectional(cell(4, return_state=True, return_sequences=True, dropout=0.2), merge_mode="concat")
        return seq(Single(layer, seed=0), rng, mask=True, training=True)
    case(f"Bidirectional({_cell.__name__}) return_state")(_bidi_state)

    def _bidi_odd(rng, cell=_cell):
        backward = cell(3, go_backwards=True, return_sequences=True)
        layers = [Bidirectional(cell(4, return_sequences=True), backward_layer=backward), cell(2)]
        return seq(Sequential(layers, seed=0), rng)
    case(f"Bidirectional({_cell.__name__}) own backward layer")(_bidi_odd)

    def _bidi_tm(rng, cell=_cell):
        layer = Bidirectional(cell(4, time_major=True, return_sequences=True), merge_mode="ave")
        return (Sequential([layer, Dense(2)], seed=0), {"inputs": "(T, B, 3)", "dims": {"B": B, "T": T}},
                {"inputs": normal(rng, T, B, F)}, {})
    case(f"Bidirectional({_cell.__name__}) time_major")(_bidi_tm)


@case("stack")
def _(rng):
    layers = [LSTM(5, return_sequences=True, dropout=0.1), Bidirectional(GRU(4, return_sequences=True)),
              SimpleRNN(3, return_sequences=True, go_backwards=True), GRU(2), Dense(3, activation="softmax")]
    return seq(Sequential(layers, seed=0), rng, mask=True, training=True)


# -- one-to-many and encoder-decoder ----------------------------------------------------------------
for _cell in CELLS:
    for _feedback in ("zeros", "outputs"):
        def _o2m(rng, cell=_cell, feedback=_feedback):
            model = OneToMany([cell(4), cell(5, dropout=0.2)], Dense(3), steps=5, feedback=feedback, seed=0)
            return model, {"inputs": "(B, 3)", "dims": {"B": B}}, {"inputs": normal(rng, B, F)}, {"training": True}
        case(f"OneToMany {_cell.__name__} {_feedback}")(_o2m)

    def _ed(rng, cell=_cell, masked=False):
        model = EncoderDecoder([cell(4), cell(5, recurrent_dropout=0.2)], [cell(4, dropout=0.2), cell(5)], Dense(3),
                               seed=0)
        sym = {"inputs": ("(B, T_in, 2)", "(B, T_out, 3)"), "dims": {"B": B, "T_in": 6, "T_out": 4}}
        real = {"inputs": (normal(rng, B, 6, 2), normal(rng, B, 4, 3))}
        if masked:
            sym["mask"], real["mask"] = "(B, T_in)", a_mask(rng, t=6)
        return model, sym, real, {"training": True}
    case(f"EncoderDecoder {_cell.__name__}")(_ed)
    case(f"EncoderDecoder {_cell.__name__} masked")(lambda rng, f=_ed: f(rng, masked=True))


# -- labels and losses --------------------------------------------------------------------------------
def labelled(model: Model, loss: Any, sym_labels: str, real_labels: np.ndarray, rng: np.random.Generator,
             mask: bool = False) -> tuple:
    model.compile(loss, "sgd")
    model, sym, real, common = seq(model, rng, mask=mask)
    sym["labels"], real["labels"] = sym_labels, real_labels
    return model, sym, real, common


@case("labels mse (B,)")
def _(rng):
    return labelled(Sequential([LSTM(4), Dense(1)], seed=0), "mse", "(B,)", normal(rng, B), rng)


@case("labels mse (B, 1)")
def _(rng):
    return labelled(Sequential([GRU(4), Dense(1)], seed=0), "mse", "(B, 1)", normal(rng, B, 1), rng)


@case("labels mse (B, T, C) masked")
def _(rng):
    return labelled(Sequential([LSTM(4, return_sequences=True), Dense(2)], seed=0), "mse", "(B, T, 2)",
                    normal(rng, B, T, 2), rng, mask=True)


@case("labels binary_crossentropy (B,)")
def _(rng):
    y = (rng.random(B) > 0.5).astype(np.float32)
    return labelled(Sequential([SimpleRNN(4), Dense(1, activation="sigmoid")], seed=0), "binary_crossentropy",
                    "(B,)", y, rng)


@case("labels binary_crossentropy from_logits (B, T, 1)")
def _(rng):
    y = (rng.random((B, T, 1)) > 0.5).astype(np.float32)
    return labelled(Sequential([GRU(4, return_sequences=True), Dense(1)], seed=0),
                    BinaryCrossentropy(from_logits=True), "(B, T, 1)", y, rng, mask=True)


@case("labels softmax ids (B,)")
def _(rng):
    return labelled(Sequential([LSTM(4), Dense(3)], seed=0), SoftmaxCrossEntropy(), "(B,)",
                    rng.integers(0, 3, B), rng)


@case("labels softmax one-hot (B, C)")
def _(rng):
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, B)]
    return labelled(Sequential([LSTM(4), Dense(3)], seed=0), SoftmaxCrossEntropy(), "(B, 3)", y, rng)


@case("labels sparse_categorical_crossentropy (B, T)")
def _(rng):
    return labelled(Sequential([GRU(4, return_sequences=True), Dense(3, activation="softmax")], seed=0),
                    "sparse_categorical_crossentropy", "(B, T)", rng.integers(0, 3, (B, T)), rng, mask=True)


@case("labels categorical_crossentropy (B, T, C)")
def _(rng):
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (B, T))]
    return labelled(Sequential([SimpleRNN(4, return_sequences=True), Dense(3, activation="softmax")], seed=0),
                    "categorical_crossentropy", "(B, T, 3)", y, rng)


@case("labels named by the labels only")
def _(rng):
    # T_out appears only in the labels: it takes its size from the output it lines up with
    model = OneToMany([LSTM(4)], Dense(2), steps=5, seed=0).compile("mse", "sgd")
    return (model, {"inputs": "(B, 3)", "dims": {"B": B}, "labels": "(B, T_out, 2)"},
            {"inputs": normal(rng, B, F), "labels": normal(rng, B, 5, 2)}, {})


# -- all_steps and short sequences ------------------------------------------------------------------
@case("all_steps stack")
def _(rng):
    return seq(Sequential([LSTM(4, return_sequences=True), Bidirectional(GRU(3))], seed=0), rng, mask=True,
               all_steps=True)


@case("all_steps OneToMany")
def _(rng):
    model = OneToMany([GRU(4)], Dense(3), steps=5, feedback="outputs", seed=0)
    return model, {"inputs": "(B, 3)", "dims": {"B": B}}, {"inputs": normal(rng, B, F)}, {"all_steps": True}


@case("all_steps EncoderDecoder")
def _(rng):
    model = EncoderDecoder([LSTM(4)], [LSTM(4)], Dense(3), seed=0)
    return (model, {"inputs": ("(B, T_in, 2)", "(B, T_out, 3)"), "dims": {"B": B, "T_in": 6, "T_out": 4}},
            {"inputs": (normal(rng, B, 6, 2), normal(rng, B, 4, 3))}, {"all_steps": True})


for _t in (1, 2, 3, 4):
    case(f"T={_t}")(lambda rng, t=_t: seq(Sequential([LSTM(4, return_sequences=True), GRU(3)], seed=0), rng, t=t,
                                          mask=True))


# -- the models in examples/ --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def examples() -> dict[str, Any]:
    return {name: load_example(name) for name in ("five_modes", "addition", "imdb_lstm")}


@pytest.mark.parametrize("name", list(CASES))
def test_trace_equals_the_concrete_run(name: str) -> None:
    model, sym, real, common = CASES[name](np.random.default_rng(0))
    check(model, sym, real, **common)


FIVE_MODES = {  # the symbolic declarations of examples/five_modes.py's models: inputs, labels
    "one-to-one": ("(B, 4)", "(B,)"),
    "one-to-many": ("(B, 2)", "(B, T, 2)"),
    "many-to-one": ("(B, T, 1)", "(B, 1)"),
    "many-to-many (encoder-decoder)": (("(B, T_in, 3)", "(B, T_out, 3)"), "(B, T_out, 3)"),
    "synced many-to-many": ("(B, T, 1)", "(B, T, 1)"),
}


@pytest.mark.parametrize("mode", list(FIVE_MODES))
def test_five_modes_example(examples: dict, mode: str) -> None:
    make = dict(examples["five_modes"].MODES)[mode]
    model, x, y = make(np.random.default_rng(0), 4)  # x, y exactly as the example trains on them (float64)
    decl, labels = FIVE_MODES[mode]
    dims = {"B": 4}
    if isinstance(x, tuple):
        dims.update(T_in=x[0].shape[1], T_out=x[1].shape[1])
    elif x.ndim == 3:
        dims["T"] = x.shape[1]
    symbolic, concrete = check(model, {"inputs": decl, "dims": dims, "labels": labels},
                               {"inputs": x, "labels": y})
    assert symbolic.mode == model.mode == mode.split(" (")[0]
    assert concrete.labels == y.shape


@pytest.mark.parametrize("lstm", [False, True], ids=["SimpleRNN", "LSTM"])
def test_addition_example(examples: dict, lstm: bool) -> None:
    model = examples["addition"].build_model(lstm=lstm, seed=0)  # Bidirectional(100) -> Dense(1, tanh)
    model.compile("mse", "adagrad")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 7, 2)).astype(np.float32)
    mask = a_mask(rng, 3, 7)
    symbolic, _ = check(model, {"inputs": "(B, T, 2)", "dims": {"B": 3, "T": 7}, "mask": "(B, T)", "labels": "(B,)"},
                        {"inputs": x, "mask": mask, "labels": rng.uniform(-1, 1, 3).astype(np.float32)})
    assert symbolic.layers[0].outputs == {"y": (Dim.sym("B"), 200)}


def test_imdb_lstm_example(examples: dict) -> None:
    model = examples["imdb_lstm"].build_model(seed=0)  # Embedding(20000, 128) -> LSTM(128) -> Dense(1, sigmoid)
    model.compile("binary_crossentropy", "adam")
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20000, (3, 9))
    y = (rng.random(3) > 0.5).astype(np.float32)
    symbolic, _ = check(model, {"inputs": "(B, T)", "dims": {"B": 3, "T": 9}, "labels": "(B,)"},
                        {"inputs": ids, "labels": y}, training=True)
    assert [r.kind for r in symbolic.layers] == ["embedding", "lstm", "dense"]
    assert symbolic.param_count == 20000 * 128 + 4 * 128 * (128 + 128 + 1) + 129


# -- what the records say, beyond agreeing ------------------------------------------------------------
def test_symbolic_steps_are_zero_one_and_the_last() -> None:
    model = Sequential([LSTM(4, return_sequences=True)], seed=0)
    tr = trace(model, "(B, T, 3)")
    assert [s.label for s in tr.steps_of(model.layers[0].name)] == ["0", "1", "T-1"]
    assert [s.label for s in tr.steps_of(model.layers[0].name, "backward")] == ["T-1", "1", "0"]
    assert [s.label for s in tr.bind(T=9).steps_of(model.layers[0].name)] == ["0", "1", "8"]
    first = tr.steps[0].tensors
    b, t = Dim.sym("B"), Dim.sym("T")
    assert first == {"x_t": (b, 3), "h_{t-1}": (b, 4), "c_{t-1}": (b, 4), "z_t": (b, 16), "h_t": (b, 4),
                     "c_t": (b, 4), "y_t": (b, 4)}
    assert tr.layers[0].outputs == {"y": (b, t, 4)}
    assert tr.layers[0].states == {"h": (b, 4), "c": (b, 4)}


def test_all_steps_traces_every_step() -> None:
    model = Sequential([GRU(4)], seed=0)
    tr = trace(model, "(B, 6, 3)", all_steps=True)
    assert [s.label for s in tr.steps_of(model.layers[0].name)] == ["0", "1", "2", "3", "4", "5"]
    real = trace(model, np.zeros((2, 6, 3), np.float32), all_steps=True)
    assert [s.label for s in real.steps_of(model.layers[0].name)] == ["0", "1", "2", "3", "4", "5"]


def test_memory_is_bound_by_the_sizes() -> None:
    model = Sequential([LSTM(4, return_sequences=True), Dense(2)], seed=0)
    tr = trace(model, "(B, T, 3)")
    assert tr.memory.names == {"B", "T"}
    for b, t in ((2, 5), (7, 1), (3, 11)):
        real = trace(model, np.zeros((b, t, 3), np.float32))
        assert tr.memory_bytes(B=b, T=t) == real.memory.value > 0


def test_a_batch_sliced_from_a_dataset_counts_only_the_batch() -> None:
    model = Sequential([SimpleRNN(4)], seed=0)
    data = np.zeros((100, 50, 3), np.float32)
    assert trace(model, data[:2, :5]).memory == trace(model, np.zeros((2, 5, 3), np.float32)).memory


def test_the_comparison_catches_a_difference() -> None:
    model = Sequential([LSTM(4, return_sequences=True)], seed=0)
    symbolic = trace(model, "(B, T, 3)", dims={"B": 2, "T": 5})
    with pytest.raises(AssertionError, match="outputs"):
        assert_same_trace(symbolic, trace(model, np.zeros((2, 6, 3), np.float32)))
    with pytest.raises(AssertionError, match="steps"):
        assert_same_trace(trace(model, "(B, T, 3)", dims={"B": 2, "T": 5}, all_steps=True),
                          trace(model, np.zeros((2, 5, 3), np.float32)))
    with pytest.raises(AssertionError, match="unbound"):
        assert_same_trace(trace(model, "(B, T, 3)"), trace(model, np.zeros((2, 5, 3), np.float32)))


# -- tracing leaves the model as it was ---------------------------------------------------------------
def snapshot(model: Model) -> tuple:
    leaves = list(model.leaf_layers())
    return ([{k: v.copy() for k, v in leaf.params.items()} for leaf in leaves],
            [{k: v.copy() for k, v in leaf.grads.items()} for leaf in leaves],
            [sorted(leaf.__dict__) for leaf in [*model.layers, *leaves]],
            dict(backend._hooks))


def assert_unchanged(model: Model, before: tuple) -> None:
    params, grads, attrs, hooks = snapshot(model)
    for a, b in zip(params + grads, before[0] + before[1]):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert attrs == before[2]  # no wrapped method left on an instance
    assert hooks == before[3]  # the core's hooks are the real ones again


MODELS = {
    "stack": lambda: (Sequential([Embedding(9, 4, mask_zero=True), LSTM(5, return_sequences=True, dropout=0.2),
                                  Bidirectional(GRU(3)), Dense(2)], seed=0),
                      "(B, T)", np.random.default_rng(0).integers(0, 9, (B, T))),
    "one-to-many": lambda: (OneToMany([SimpleRNN(4)], Dense(3), steps=4, feedback="outputs", seed=0), "(B, 3)",
                            normal(np.random.default_rng(0), B, 3)),
    "encoder-decoder": lambda: (EncoderDecoder([GRU(4)], [GRU(4)], Dense(3), seed=0), ("(B, S, 2)", "(B, T, 3)"),
                                (normal(np.random.default_rng(0), B, 6, 2), normal(np.random.default_rng(1), B, 4, 3))),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_tracing_leaves_the_model_as_it_was(name: str) -> None:
    model, decl, x = MODELS[name]()
    before_y = model.forward(x)[0]  # builds it
    rng = np.random.default_rng(5)
    for leaf in model.leaf_layers():  # gradients a user has accumulated and not yet applied
        for g in leaf.grads.values():
            g[...] = rng.normal(size=g.shape)
    before = snapshot(model)
    trace(model, decl, training=True)
    assert_unchanged(model, before)
    trace(model, x, training=True)
    assert_unchanged(model, before)
    np.testing.assert_array_equal(model.forward(x)[0], before_y)


def test_a_failed_trace_leaves_the_model_as_it_was() -> None:
    model = Sequential([LSTM(4, return_sequences=True), GRU(3)], seed=0)
    x = normal(np.random.default_rng(0), B, T, F)
    y = model.forward(x)[0]
    before = snapshot(model)
    with pytest.raises(ShapeError):
        trace(model, "(B, T, 5)")
    with pytest.raises(ShapeError):
        trace(model, x, mask=np.ones((B, T + 1), bool))
    assert_unchanged(model, before)
    np.testing.assert_array_equal(model.forward(x)[0], y)


def test_tracing_builds_a_model_as_its_first_real_run_would() -> None:
    x = normal(np.random.default_rng(0), B, T, F)
    traced = Sequential([LSTM(4, return_sequences=True), Bidirectional(GRU(3)), Dense(2)], seed=0)
    fresh = Sequential([LSTM(4, return_sequences=True), Bidirectional(GRU(3)), Dense(2)], seed=0)
    trace(traced, "(B, T, 3)")
    assert traced.built
    np.testing.assert_array_equal(traced.forward(x)[0], fresh.forward(x)[0])


@pytest.mark.parametrize("concrete", [False, True], ids=["symbolic", "concrete"])
def test_tracing_twice_gives_equal_traces(concrete: bool) -> None:
    model, decl, x = MODELS["stack"]()
    inputs = x if concrete else decl
    first, second = (trace(model, inputs, training=True, mask=None) for _ in range(2))
    assert records(first) == records(second)
    assert {n: b.describe() for n, b in first.bindings.items()} == {n: b.describe() for n, b in second.bindings.items()}


@pytest.mark.parametrize("concrete", [False, True], ids=["symbolic", "concrete"])
def test_no_backward_no_gradients(concrete: bool) -> None:
    model, decl, x = MODELS["stack"]()
    tr = trace(model, x if concrete else decl, backward=False)
    assert tr.grads == []
    assert tr.steps and all(s.phase == "forward" for s in tr.steps)
    full = trace(model, x if concrete else decl)
    assert len(full.grads) == len(model.parameters()) == 12  # 1 + 3 + 2 * 3 + 2
    assert any(s.phase == "backward" for s in full.steps)
