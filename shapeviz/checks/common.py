"""What every deep check shares: the result record, a float64 twin of the model, and a tiny concrete problem."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shapeviz.core import losses
from shapeviz.core.inputs import InputSpec
from shapeviz.core.layer import Layer
from shapeviz.core.model import Model
from shapeviz.core.output_losses import OutputLosses
from shapeviz.core.sequential import Sequential
from shapeviz.errors import ConfigError

STATUSES = ("pass", "warn", "fail")


@dataclass
class CheckResult:
    """One row of the report: ``status`` is "pass", "warn" or "fail"; ``evidence`` what was measured,
    ``fix`` what to do about it (empty on a pass), ``data`` the numbers behind the evidence (for JSON)."""

    name: str
    status: str
    evidence: str
    fix: str = ""
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "evidence": self.evidence, "fix": self.fix,
                "data": self.data}


# -- the float64 twin --------------------------------------------------------------------------
def _all_layers(model: Model) -> list[Layer]:
    out: list[Layer] = []

    def walk(layer: Layer) -> None:
        out.append(layer)
        for s in layer.sublayers():
            walk(s)
    for layer in model.layers:
        walk(layer)
    for attr in ("head",):  # models keeping a layer outside ``layers``
        extra = getattr(model, attr, None)
        if isinstance(extra, Layer) and all(extra is not l for l in out):
            walk(extra)
    return out


def float64_twin(model: Model) -> Model:
    """A deep copy of ``model`` computing in float64 with the same weights (the original is untouched)."""
    twin = copy.deepcopy(model)
    f64 = np.dtype("float64")
    twin.dtype = f64
    for layer in _all_layers(twin):
        if layer.dtype is not None:
            layer.dtype = f64
        layer.params = {k: v.astype(f64) for k, v in layer.params.items()}
        layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
    return twin


# -- the loss -------------------------------------------------------------------------------------
def several_outputs(model: Model) -> bool:
    """A graph model with a list of outputs: a loss (and labels) per output."""
    return getattr(model, "single_output", True) is False


def head_activation(model: Model, output: int = 0) -> str | None:
    """The activation of the layer making the output (output number ``output`` of a graph)."""
    if hasattr(model, "output_tensors"):
        node = model.producer(model.output_tensors[output])
        return getattr(node.layer, "activation", None) if node is not None else None
    last = model.layers[-1] if model.layers else None
    last = getattr(model, "head", None) or last
    return getattr(last, "activation", None)


def _implied(act: str | None) -> losses.Loss:
    if act == "sigmoid":
        return losses.BinaryCrossentropy()
    if act == "softmax":
        return losses.SoftmaxCrossEntropy(from_logits=False, name="sparse_categorical_crossentropy")
    if act == "log_softmax":  # log-probabilities: PyTorch's NLLLoss
        return losses.NLLLoss()
    return losses.MeanSquaredError()


def pick_loss(model: Model, loss: Any = None) -> Any:
    """The loss given, else the model's compiled one, else the one its head implies (sigmoid ->
    binary cross-entropy, softmax -> sparse categorical, log_softmax -> nll, anything else -> MSE); for a graph with
    several outputs an :class:`~shapeviz.core.output_losses.OutputLosses` (one loss per output)."""
    if several_outputs(model):
        if isinstance(loss, OutputLosses) or (loss is None and isinstance(model.loss, OutputLosses)):
            return loss if loss is not None else model.loss
        given = loss if loss is not None else [_implied(head_activation(model, i))
                                               for i in range(len(model.output_names))]
        return OutputLosses(given, model.output_names)
    if loss is not None:
        return losses.get(loss)
    if model.loss is not None:
        return losses.get(model.loss)
    return _implied(head_activation(model))


def loss_masks(model: Model, cache: Any, loss: Any) -> Any:
    """The mask(s) ``loss`` reads: per output for a loss per output, else the output's."""
    return model.output_masks(cache) if isinstance(loss, OutputLosses) else model.output_mask(cache)


def outputs(y: Any) -> list:
    """The outputs of a forward as a list (one array for a one-output model)."""
    return list(y) if isinstance(y, list) else [y]


def loss_kind(loss: losses.Loss) -> str:
    if isinstance(loss, losses.BinaryCrossentropy):
        return "binary"
    if isinstance(loss, (losses.SoftmaxCrossEntropy, losses.NLLLoss)):  # class ids, ln C at the start
        return "softmax"
    return "mse"


# -- the tiny concrete problem -----------------------------------------------------------------------
@dataclass
class Problem:
    """A concrete batch for the checks: ``x`` (ids or floats, or a tuple for an encoder-decoder),
    labels ``y``, an optional (B, T) ``mask``, the ``loss``, and whether it came from user data."""

    x: Any
    y: np.ndarray
    mask: Any
    loss: losses.Loss
    from_data: bool = False


def _sample(spec: InputSpec, model: Model, B: int, T: int, rng: np.random.Generator) -> np.ndarray:
    """Random values of one input: ids (from 1 when id 0 is padding) or N(0, 1) floats, in its layout."""
    if spec.kind == "lengths":  # each sample's real steps, 1..T, the longest the whole T
        lengths = rng.integers(1, T + 1, size=(B,))
        lengths[0] = T
        return lengths
    shape = [0] * spec.rank
    shape[spec.batch_axis] = B
    if spec.time_axis is not None:
        shape[spec.time_axis] = T
    if spec.ids:
        if spec.vocabulary is None:
            raise ConfigError(f"{model.summary_name()}: the vocabulary of the ids {spec.name} is unknown: pass inputs=")
        return rng.integers(1 if spec.masked else 0, spec.vocabulary, size=tuple(shape))
    if spec.features is None:
        raise ConfigError(f"{model.summary_name()} is not built, so its input size is unknown: build it "
                          "(model.build((None, None, F))) or pass inputs=")
    shape[-1] = spec.features
    return rng.standard_normal(tuple(shape)).astype(model.dtype)


def make_inputs(model: Model, B: int, T: int, rng: np.random.Generator) -> Any:
    """Random inputs as ``model.inputs`` describes them: ids for an Embedding, else floats, with or
    without a time axis, batch-first or time-major; a tuple for several (an encoder-decoder's source
    and decoder inputs). Inputs whose time axes have different names get different lengths (T, T+1,
    ...), so that mixing them up shows."""
    lengths: dict[str, int] = {}
    arrays = []
    for spec in model.inputs:
        if spec.kind == "lengths":  # as long as the sequence it measures
            length = lengths.get(spec.time_dim, T)
        else:
            length = T if spec.time_axis is None else lengths.setdefault(spec.time_dim, T + len(lengths))
        arrays.append(_sample(spec, model, B, length, rng))
    return arrays[0] if len(arrays) == 1 else tuple(arrays)


def first_samples(model: Model, x: Any, n: int) -> Any:
    """The first ``n`` samples of ``x`` (a tuple: of each), along each input's batch axis."""
    specs = model.inputs
    parts = x if isinstance(x, tuple) else (x,)
    cut = tuple(a[(slice(None),) * spec.batch_axis + (slice(None, n),)] for a, spec in zip(parts, specs))
    return cut if isinstance(x, tuple) else cut[0]


def make_labels(model: Model, x: Any, loss: Any, rng: np.random.Generator) -> Any:
    """Random labels fitting the model's output on ``x``: 0/1, class ids, or N(0, 1) targets; a
    list of them, one per output, for a loss per output."""
    y = model.forward(x, training=False)[0]
    if isinstance(loss, OutputLosses):
        return [None if lo is None else _labels(model, out, lo, rng, i)
                for i, (out, lo) in enumerate(zip(outputs(y), loss.losses))]
    return _labels(model, y, loss, rng)


def _labels(model: Model, y: Any, loss: losses.Loss, rng: np.random.Generator, output: int = 0) -> np.ndarray:
    shape = tuple(y.shape)
    kind = loss_kind(loss)
    if kind == "binary":
        return rng.integers(0, 2, size=shape).astype(model.dtype)
    if kind == "softmax":
        return rng.integers(0, shape[-1], size=shape[:-1])
    act = head_activation(model, output)  # regression targets the head can reach
    if act == "tanh":
        return rng.uniform(-0.8, 0.8, size=shape).astype(model.dtype)
    if act == "sigmoid":
        return rng.uniform(0.1, 0.9, size=shape).astype(model.dtype)
    if act == "relu":
        return np.abs(rng.standard_normal(shape)).astype(model.dtype)
    return rng.standard_normal(shape).astype(model.dtype)


def make_problem(model: Model, inputs: Any = None, data: dict | None = None, *, loss: Any = None,
                 B: int = 2, T: int = 4, seed: int = 0) -> Problem:
    """The batch the numeric checks run on: the first ``B`` samples of ``data`` when given, else
    ``inputs`` (an array) or random inputs, with random labels of the right kind."""
    rng = np.random.default_rng(seed)
    lo = pick_loss(model, loss)
    if data is not None:
        x, y, mask = data_arrays(model, data, lo)
        x = first_samples(model, x, B)
        y = [None if a is None else a[:B] for a in y] if isinstance(y, list) else y[:B]
        return Problem(x, y, None if mask is None else mask[:B], lo, True)
    if isinstance(inputs, np.ndarray) or (isinstance(inputs, tuple) and inputs and isinstance(inputs[0], np.ndarray)):
        x = inputs
    else:
        x = make_inputs(model, B, T, rng)
    return Problem(x, make_labels(model, x, lo, rng), None, lo)


def data_arrays(model: Model, data: dict, loss: Any = None) -> tuple[Any, Any, Any]:
    """``(x, y, mask)`` out of an .npz's arrays: ``x`` (and ``x_dec`` for an encoder-decoder), or for a
    graph model one array per input named after it (``x`` for a single input also); ``y``, or for a
    loss per output one array per output named after it (a list, None where an output has no loss)."""
    if hasattr(model, "input_names"):
        from shapeviz.core.output_losses import log_name
        names = model.input_names
        single = len(names) == 1
        missing = [n for n in names if n not in data and not (single and "x" in data)]
        ys = ["y"] if not several_outputs(model) else [log_name(n) for n in model.output_names]
        lost = [] if not isinstance(loss, OutputLosses) else [k for k, lo in zip(ys, loss.losses) if lo is None]
        missing += [k for k in ys if k not in data and k not in lost]
        if missing:
            raise ConfigError(f"{model.summary_name()} reads arrays named after its inputs and outputs: "
                              f"{', '.join(names + ys)}; got no {', '.join(repr(m) for m in missing)} "
                              f"(the data holds {', '.join(sorted(data)) or 'nothing'})")
        xs = tuple(data[n] if n in data else data["x"] for n in names)
        y = data["y"] if not several_outputs(model) else [data.get(k) for k in ys]
        return (xs[0] if single else xs), y, (data.get("mask") if single else None)
    x = data["x"] if len(model.inputs) == 1 else (data["x"], data["x_dec"])
    return x, data["y"], data.get("mask")


def batch_of(x: Any) -> int:
    return int((x[0] if isinstance(x, tuple) else x).shape[0])


# -- a differentiable view: the model from its first float input on --------------------------------
class Differentiable:
    """``model`` as a function of its first float input: for a Sequential reading ids, the
    embedded ``(B, T, E)`` sequence (the output of its layers up to the first that makes floats),
    else ``x`` itself. ``forward(z)`` and ``backward(dy, cache) -> dz`` run the model's own layer code."""

    def __init__(self, model: Model, x: Any, mask: Any = None) -> None:
        self.model = model
        self.mask = mask
        self.skip = 0
        self.z0 = x
        spec = model.inputs[0]
        if isinstance(model, Sequential) and spec.ids:
            z = x
            while np.asarray(z).dtype.kind in "iu" and self.skip < len(model.layers):
                layer = model.layers[self.skip]
                y, _ = layer.forward(z, mask=self.mask)
                made = layer.compute_mask(z) if hasattr(layer, "compute_mask") else None  # type: ignore[attr-defined]
                if made is not None and spec.time_major:
                    made = made.T  # (T, B) ids: the mask is (B, T) whatever the layout
                if made is not None:
                    self.mask = made if self.mask is None else np.logical_and(made, self.mask)
                z = y
                self.skip += 1
            self.z0 = np.array(z, copy=True)

    def forward(self, z: Any) -> tuple[Any, Any]:
        if self.skip == 0:
            return self.model.forward(z, mask=self.mask, training=False)
        caches = []
        mask = self.mask
        for layer in self.model.layers[self.skip:]:
            y, c = layer.forward(z, mask=mask, training=False)
            mask = layer.output_mask(mask)
            caches.append(c)
            z = y
        return z, caches

    def backward(self, dy: Any, cache: Any) -> Any:
        if self.skip == 0:
            return self.model.backward(dy, cache)
        for layer, c in zip(reversed(self.model.layers[self.skip:]), reversed(cache)):
            dy = layer.backward(dy, c)
        return dy
