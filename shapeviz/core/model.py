"""The model protocol shared by Sequential, OneToMany and EncoderDecoder."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar, Iterator

import numpy as np

from shapeviz.core.inputs import InputSpec, read_front, time_major_inputs
from shapeviz.core.layer import Layer
from shapeviz import hooks
from shapeviz.errors import CheckpointError, ConfigError

_counter = itertools.count(1)

MODES = ("one-to-one", "one-to-many", "many-to-one", "many-to-many", "synced many-to-many")


class Model:
    """A model owns layers; ``forward`` returns ``(y, cache)`` and ``backward(dy, cache)`` fills
    every layer's ``grads`` and returns the gradient of the input.

    Training, evaluation and prediction loops live in :mod:`shapeviz.train`; the
    methods ``compile``/``fit``/``evaluate``/``predict`` here only forward to them.
    """

    kind: ClassVar[str] = "model"

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        """``Model(inputs=..., outputs=...)`` makes a :class:`~shapeviz.core.functional.Functional`
        (Keras's pattern); subclasses are made as themselves."""
        if cls is Model and ("inputs" in kwargs or "outputs" in kwargs or args):
            from shapeviz.core.functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, name: str | None = None, dtype: Any = "float32", seed: int | None = None) -> None:
        self.name = name or f"{self.kind}_{next(_counter)}"
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype("float32"), np.dtype("float64")):
            raise ConfigError(f"model {self.name!r}: dtype must be float32 or float64, got {dtype!r}")
        self.seed = seed
        self.init_rng = np.random.default_rng(seed)
        self.loss: Any = None
        self.optimizer: Any = None

    # -- structure ----------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        raise NotImplementedError

    @property
    def mode(self) -> str:
        """One of :data:`MODES`, read off the model's structure."""
        raise NotImplementedError

    @property
    def inputs(self) -> list[InputSpec]:
        """What the model expects, one :class:`InputSpec` per array ``forward`` takes (see there).

        Read off the layers once they are built (kept from then on); before that, on every read,
        with ``features=None`` where a layer has yet to learn its input size."""
        kept = self.__dict__.get("_input_specs")
        if kept is not None:
            return list(kept)
        specs = self._describe_inputs()
        if self.built:
            self._input_specs = tuple(specs)
        return list(specs)

    def _describe_inputs(self) -> list[InputSpec]:
        """The inputs as the layers say (a model kind with several inputs reads its own). Here: one
        input ``x`` read off the front of :attr:`layers` (:func:`~shapeviz.core.inputs.read_front`),
        a sequence unless the mode is one-to-one or one-to-many, in the layout of the recurrent layer
        it goes to (:func:`~shapeviz.core.inputs.time_major_inputs`)."""
        layers = self.layers
        return [read_front(layers, "x", sequence=self.mode not in ("one-to-one", "one-to-many"),
                           time_major=bool(layers) and time_major_inputs(layers)[0])]

    def leaf_layers(self) -> Iterator[Layer]:
        """Every layer that owns parameters, depth first (a Bidirectional yields its two
        directions), each once: a layer used twice (tied weights) is updated once per step."""
        seen: set[int] = set()

        def walk(layer: Layer) -> Iterator[Layer]:
            subs = layer.sublayers()
            if subs:
                for s in subs:
                    yield from walk(s)
            elif id(layer) not in seen:
                seen.add(id(layer))
                yield layer
        for layer in self.layers:
            yield from walk(layer)

    def parameters(self) -> list[tuple[str, Layer, str]]:
        """``(path, layer, key)`` for every parameter, e.g. ``("lstm_1/kernel", layer, "kernel")``."""
        return [(f"{layer.name}/{key}", layer, key) for layer in self.leaf_layers() for key in layer.params]

    @property
    def built(self) -> bool:
        return all(layer.built for layer in self.layers)

    def build(self, input_shape: Any) -> "Model":
        """Build every layer by running the real forward code once on a tiny batch of zeros.

        ``input_shape`` excludes nothing: pass e.g. ``(None, 80)`` or ``(None, None, 2)``; unknown
        (None) batch and time sizes become 1 and 2 for the dry run."""
        self.forward(self._dry_input(input_shape), training=False)
        return self

    def _dry_input(self, input_shape: Any) -> Any:
        shape = tuple(1 if (d is None and i == 0) else (2 if d is None else int(d)) for i, d in enumerate(input_shape))
        return np.zeros(shape, dtype=self.input_dtype())

    def input_dtype(self) -> np.dtype:
        """The dtype of the first input's arrays: int64 for ids, else the model's."""
        inputs = self.inputs
        return inputs[0].array_dtype(self.dtype) if inputs else self.dtype

    def zero_grad(self) -> None:
        for layer in self.leaf_layers():
            layer.zero_grad()

    def to_torch_state_dict(self) -> Any:
        """The weights as a state_dict for the torch module this model was imported from
        (``shapeviz.from_torch``): it loads with ``module.load_state_dict(sd)`` (strict) and the module
        then predicts what this model predicts. Needs torch."""
        source = getattr(self, "torch_source", None)
        if source is None:
            raise ConfigError(f"{self.summary_name()} was not imported from torch (shapeviz.from_torch, or a "
                              "build() returning an nn.Module): it has no torch state_dict layout")
        return source.state_dict(self)

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.leaf_layers())

    def get_weights(self) -> list[np.ndarray]:
        """Every weight array, layer by layer, each layer's in Keras's order and shapes."""
        return [layer.params[key].copy() for _, layer, key in self.parameters()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Load arrays in :meth:`get_weights` order; nothing changes unless every array fits."""
        params = self.parameters()
        if len(weights) != len(params):
            listing = ", ".join(f"{path} {layer.params[key].shape}" for path, layer, key in params)
            raise CheckpointError(
                f"model {self.name!r} has {len(params)} weight arrays ({listing}), got {len(weights)}"
            )
        for (path, layer, key), w in zip(params, weights):
            if np.shape(w) != layer.params[key].shape:
                raise CheckpointError(
                    f"model {self.name!r}: weight {path!r} has shape {layer.params[key].shape}, "
                    f"got an array of shape {np.shape(w)}"
                )
        for (_, layer, key), w in zip(params, weights):
            layer.params[key][...] = w

    # -- computation --------------------------------------------------------------
    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, Any]:
        raise NotImplementedError

    def backward(self, dy: Any, cache: Any) -> Any:
        raise NotImplementedError

    def output_mask(self, cache: Any) -> Any:
        """The (B, T) mask of the output sequence, or None (used by per-timestep losses)."""
        return None

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        return self.forward(x, **kwargs)[0]

    # -- training (implemented in shapeviz.train, which registers itself: see register_trainer) --
    def compile(self, loss: Any, optimizer: Any = "adam", *, loss_weights: Any = None, **options: Any) -> "Model":
        """Args: loss: a loss (name or instance); for a model with several outputs also a dict by
        output name or a list in output order (:class:`~shapeviz.core.output_losses.OutputLosses`);
        loss_weights: per output its weight in the total (several outputs only);
        optimizer and ``**options``: see :func:`shapeviz.core.optimizers.get`."""
        from shapeviz.core import losses, optimizers
        from shapeviz.core.output_losses import OutputLosses
        names = getattr(self, "output_names", None)
        if isinstance(loss, OutputLosses) and loss_weights is None and loss.names == names:
            self.loss = loss  # recompiled with its own losses (a new optimizer)
        elif names is not None and not getattr(self, "single_output", True):
            self.loss = OutputLosses(loss, names, loss_weights)
        elif isinstance(loss, (dict, list, tuple)) or loss_weights is not None:
            raise ConfigError(f"compile: {self.summary_name()} has one output: give one loss, without loss_weights "
                              f"(a dict/list of losses and loss_weights are for several outputs), got {loss!r}")
        else:
            self.loss = losses.get(loss)
        self.optimizer = optimizers.get(optimizer, **options)
        return self

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        return _trainer("fit")(self, x, y, **kwargs)

    def evaluate(self, x: Any, y: Any, **kwargs: Any) -> Any:
        return _trainer("evaluate")(self, x, y, **kwargs)

    def predict(self, x: Any, **kwargs: Any) -> Any:
        return _trainer("predict")(self, x, **kwargs)

    def save_weights(self, path: Any) -> None:
        _trainer("save_weights")(self, path)

    def load_weights(self, path: Any) -> None:
        _trainer("load_weights")(self, path)

    def save_keras(self, path: Any) -> None:
        """Write this model's weights into a copy of the ``.keras`` file it was imported from
        (``shapeviz.from_keras``), at ``path``: the config is kept as it was, so Keras loads it."""
        writer = _KERAS_WRITER.get("save")
        if writer is None and hooks.load("keras_writer"):  # the Keras front end registers itself
            writer = _KERAS_WRITER.get("save")
        if writer is None:
            raise RuntimeError("Model.save_keras is implemented by shapeviz.frontends.keras.saving, which has not "
                               "been imported: import shapeviz first")
        writer(self, path)

    def summary_name(self) -> str:
        return f"{type(self).__name__} {self.name!r}"


# The Keras writer is a front end, above the core: it registers itself on import (shapeviz.hooks).
_KERAS_WRITER: dict[str, Any] = {}


def register_keras_writer(save: Any) -> None:
    """Called by :mod:`shapeviz.frontends.keras.saving` on import: ``save(model, path)`` is what
    ``Model.save_keras`` calls."""
    _KERAS_WRITER["save"] = save


# The trainer sits above the core (it imports the models it trains), so the core does not import it:
# shapeviz.train registers itself on import, which the first Model.fit asks for (shapeviz.hooks).
_TRAINER: dict[str, Any] = {}
TRAINER_METHODS = ("fit", "evaluate", "predict", "save_weights", "load_weights")


def register_trainer(**modules: Any) -> None:
    """Called by :mod:`shapeviz.train` on import: for each of ``Model.fit``, ``evaluate``,
    ``predict``, ``save_weights`` and ``load_weights``, the module whose function of that name it
    calls (with the model first). The function is looked up at each call, as the late imports this
    replaces did, so a replaced ``shapeviz.train.fit.fit`` is the one called.

    Args:
        **modules: a module for each name of :data:`TRAINER_METHODS`.
    """
    if set(modules) != set(TRAINER_METHODS):
        raise TypeError(f"register_trainer expects {', '.join(TRAINER_METHODS)}; "
                        f"got {', '.join(sorted(modules)) or 'nothing'}")
    _TRAINER.update(modules)


def _trainer(method: str) -> Any:
    module = _TRAINER.get(method)
    if module is None and hooks.load("trainer"):  # the trainer the package root names registers itself
        module = _TRAINER.get(method)
    if module is None:
        raise RuntimeError(f"Model.{method} is implemented by shapeviz.train, which has not been imported: "
                           "import shapeviz (or shapeviz.train) first")
    return getattr(module, method)
