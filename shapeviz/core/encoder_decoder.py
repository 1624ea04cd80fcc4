"""EncoderDecoder: many-to-many with T_in != T_out (translation, Karpathy's mode 4).

Note: one way to do each thing. In training (teacher forcing) this model is the graph

    source = Input("(B, T_in, F)"); target = Input("(B, T_out, V_in)")
    _, h, c = LSTM(H, return_sequences=True, return_state=True)(source)       # per encoder layer
    y = LSTM(H, return_sequences=True)(target, initial_state=[h, c])         # per decoder layer
    Model(inputs=[source, target], outputs=Dense(V)(y))

and it runs as that graph: :meth:`forward` and :meth:`backward` are those of a
:class:`~shapeviz.core.functional.Functional` built in ``__init__`` from the user's own layers
(``tests/test_models_as_graphs.py`` also checks outputs and every gradient against that graph
written with the public API). The user's layers keep their own options (``LSTM(32)``:
``return_sequences=False``, ``return_state=False``), which this model has always ignored, taking
every step and the final states; so the graph calls each recurrent layer through :class:`_Called`,
the layer itself with those two outputs. Weights, the time loop and every record the tracer makes
(it records each layer's ``run``) are the layer's own, so traces, goldens and pictures are what
they were; the nodes run in the order the stacks did (encoder, decoder, head), so the weights a
seed draws are too.

What stays outside the graph: :meth:`generate` feeds each output back as the next step's input.
A step's input then depends on the previous step's output through the head: a loop over time
through several layers, which a directed acyclic graph cannot hold without unrolling ``steps``
copies of the stack. It runs the layers step by step in :func:`shapeviz.core.stack.decode`.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple, Sequence

import numpy as np

from shapeviz.core.backend import zeros
from shapeviz.core.functional import Functional
from shapeviz.core.graph import Input, call_layer
from shapeviz.core.inputs import InputSpec, read_front
from shapeviz.core.layer import Layer
from shapeviz.core.model import Model
from shapeviz.core.recurrent import Recurrent, time_major_mask
from shapeviz.core.stack import check_stack, decode, decode_backward, run_stack, run_stack_backward
from shapeviz.errors import ConfigError, InputError


class EncoderDecoderCache(NamedTuple):
    enc_caches: list  # generation: the encoder's caches; teacher forcing: empty (the graph's cache has them)
    dec: Any  # teacher forcing: the graph's FunctionalCache; generation: a DecodeCache
    generated: bool


class _Called:
    """A recurrent layer as the graph of an EncoderDecoder calls it: the layer itself (its weights,
    its ``run``, its name and records), whose output is every step's output and its final states,
    whatever its own ``return_sequences`` and ``return_state`` say."""

    _OWN = ("_layer", "return_sequences", "return_state", "_graph_calls")

    def __init__(self, layer: Recurrent) -> None:
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "return_sequences", True)
        object.__setattr__(self, "return_state", True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_layer":  # copying an instance asks before _layer is set
            raise AttributeError(name)
        return getattr(self._layer, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._layer, name, value)

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        return call_layer(self, x, kwargs)  # a node of the graph, as Layer.__call__ makes one

    # the methods that read the two options run with this object as ``self``; the rest is the layer's
    def forward(self, x: Any, **kwargs: Any) -> tuple[Any, Any]:
        return type(self._layer).forward(self, x, **kwargs)  # type: ignore[arg-type]

    def backward_with_state(self, dout: Any, cache: Any) -> tuple[Any, list]:
        return type(self._layer).backward_with_state(self, dout, cache)  # type: ignore[arg-type]

    def backward(self, dout: Any, cache: Any) -> Any:
        return self.backward_with_state(dout, cache)[0]


class EncoderDecoder(Model):
    """The encoder reads (B, T_in, F); its final states initialise the decoder, layer by layer;
    the decoder reads (B, T_out, V_in) and a head maps every step to (B, T_out, V).

    In training the decoder is fed the targets shifted right (teacher forcing,
    :meth:`teacher_inputs`); :meth:`generate` feeds back its own outputs instead.

    Args:
        encoder: recurrent layers reading the source sequence.
        decoder: recurrent layers, as many as the encoder and of the same kinds and sizes.
        head: the per-step output layer, e.g. ``Dense(V)``.
    """

    kind = "encoder_decoder"

    def __init__(self, encoder: Sequence[Recurrent], decoder: Sequence[Recurrent], head: Layer,
                 name: str | None = None, dtype: Any = "float32", seed: int | None = None) -> None:
        super().__init__(name, dtype, seed)
        self.encoder = list(encoder)
        self.decoder = list(decoder)
        self.head = head
        self._check_layers()
        self._graph = self._teacher_forcing_graph()
        self._graph_of = list(self.layers)  # the layers the graph was made of (a deep copy copies both alike)

    def __deepcopy__(self, memo: dict) -> "EncoderDecoder":
        """A copy with copies of the layers, and its graph made again from them (a Functional keys its
        tensors and nodes by ``id``, which a copy does not carry over)."""
        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        for key, value in self.__dict__.items():
            if key not in ("_graph", "_graph_of"):
                twin.__dict__[key] = copy.deepcopy(value, memo)
        twin._graph = twin._teacher_forcing_graph()
        twin._graph_of = list(twin.layers)
        return twin

    def _check_layers(self) -> None:
        owner = f"EncoderDecoder {self.name!r}"
        self.encoder = check_stack(self.encoder, owner, "encoder")
        self.decoder = check_stack(self.decoder, owner, "decoder")
        if len(self.encoder) != len(self.decoder):
            raise ConfigError(
                f"{owner}: the encoder has {len(self.encoder)} layers and the decoder {len(self.decoder)}; "
                "each encoder layer's final states initialise the decoder layer at the same depth"
            )
        for e, d in zip(self.encoder, self.decoder):
            if e.state_names != d.state_names or e.units != d.units:
                raise ConfigError(
                    f"{owner}: encoder layer {e.name!r} ({e.kind}, states {list(e.state_names)} of size {e.units}) "
                    f"cannot initialise decoder layer {d.name!r} ({d.kind}, states {list(d.state_names)} of size "
                    f"{d.units}); hint: encoder and decoder state sizes must match"
                )
        if not isinstance(self.head, Layer):
            raise ConfigError(f"{owner}: the head must be a layer such as Dense(V), got {type(self.head).__name__}")

    def _current_graph(self) -> Functional:
        """The graph, in the model's dtype and drawing weights from its seed (whatever was done to them
        since). A layer replaced in ``encoder``, ``decoder`` or ``head`` after the model was made is
        checked as the constructor checks it, then refused: the graph was made from the layers given."""
        layers = self.layers
        if len(layers) != len(self._graph_of) or any(a is not b for a, b in zip(layers, self._graph_of)):
            new = next((a for a, b in zip(layers, self._graph_of) if a is not b), layers[-1])
            first = f"EncoderDecoder {self.name!r}: layer {getattr(new, 'name', new)!r} was put in after the model was made"
            try:
                self._check_layers()
            except ConfigError as error:  # the constructor's reason, when the new layers do not fit
                reason = str(error).split(": ", 1)[1].split("; hint: ")[0]
                raise ConfigError(f"{first}, and it does not fit: {reason}") from None
            raise ConfigError(f"{first}; the model runs the layers it was made with: make a new EncoderDecoder "
                              f"with the layers you want")
        self._graph.dtype = self.dtype
        self._graph.init_rng = self.init_rng
        return self._graph

    def _teacher_forcing_graph(self) -> Functional:
        """The graph of the note above, on the user's layers; its nodes in the order the stacks ran."""
        source = Input((None, None, self.encoder[0].input_features), name="source")
        target = Input((None, None, self.decoder[0].input_features), name="decoder_inputs")
        called: dict[int, _Called] = {}  # one per layer: a layer in both stacks is called twice, tied

        def call(layer: Recurrent, x: Any, **kwargs: Any) -> Any:
            return called.setdefault(id(layer), _Called(layer))(x, **kwargs)

        x, finals, order = source, [], []
        for layer in self.encoder:
            x, *states = call(layer, x)  # (B, T_in, H), h_T[, c_T] (B, H)
            finals.append(states)
            order.append(x.node)
        y = target
        for layer, states in zip(self.decoder, finals):
            y = call(layer, y, initial_state=states)[0]  # (B, T_out, H)
            order.append(y.node)
        calls = self.head.__dict__.get("_graph_calls")
        y = self.head(y)  # (B, T_out, V)
        if calls is None:  # the user's head is not "called once" in a graph of theirs
            del self.head._graph_calls
        else:
            self.head._graph_calls = calls
        order.append(y.node)
        graph = Functional([source, target], y, name=self.name, dtype=self.dtype)
        graph.nodes = order  # a topological order too: each encoder layer, then each decoder layer, then the head
        graph.init_rng = self.init_rng  # the layers draw their weights from the model's seed, in that order
        return graph

    @property
    def layers(self) -> list[Layer]:
        return [*self.encoder, *self.decoder, self.head]

    @property
    def mode(self) -> str:
        return "many-to-many"

    def _describe_inputs(self) -> list[InputSpec]:
        """What :meth:`forward` takes in training: the ``source`` (B, T_in, F) and the teacher-forced
        ``decoder_inputs`` (B, T_out, V), both batch-first."""
        return [read_front(self.encoder, "source", time_dim="T_in", feature_dim="F"),
                read_front(self.decoder, "decoder_inputs", time_dim="T_out", feature_dim="V")]

    def _dry_input(self, input_shape: Any) -> Any:
        enc_shape, dec_shape = input_shape
        return (super()._dry_input(enc_shape), super()._dry_input(dec_shape))

    def _encode(self, x_enc: Any, mask: Any, training: bool, rng: Any) -> tuple[list, list]:
        if len(x_enc.shape) != 3:
            raise InputError(
                f"EncoderDecoder {self.name!r}: the source must be (B, T_in, F), got shape {tuple(x_enc.shape)}"
            )
        if x_enc.dtype != self.dtype:
            x_enc = x_enc.astype(self.dtype)
        x_tm = x_enc.transpose(1, 0, 2)  # (T_in, B, F)
        mask_tm = time_major_mask(mask, x_enc.shape[0], x_enc.shape[1],
                                  f"EncoderDecoder {self.name!r} (source of shape (B, T_in, F))")  # (T_in, B, 1)
        _, finals, caches = run_stack(self.encoder, x_tm, mask_tm, [None] * len(self.encoder), training, rng,
                                      self.init_rng, self.dtype)
        return finals, caches

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, EncoderDecoderCache]:
        """Teacher forcing. Args: x: (source (B, T_in, F), decoder inputs (B, T_out, V_in)); mask: the
        source's (B, T_in) mask. Returns y: (B, T_out, V)."""
        if not isinstance(x, (tuple, list)) or len(x) != 2:
            got = (f"a {type(x).__name__} of {len(x)} items" if isinstance(x, (tuple, list))
                   else f"one array of shape {tuple(x.shape)}" if hasattr(x, "shape") else type(x).__name__)
            raise InputError(
                f"EncoderDecoder {self.name!r} takes (source, decoder_inputs) in training, got {got}; "
                "use generate(source, steps) to decode from its own outputs"
            )
        x_enc, x_dec = x
        if len(x_enc.shape) != 3:
            raise InputError(
                f"EncoderDecoder {self.name!r}: the source must be (B, T_in, F), got shape {tuple(x_enc.shape)}"
            )
        time_major_mask(mask, x_enc.shape[0], x_enc.shape[1],
                        f"EncoderDecoder {self.name!r} (source of shape (B, T_in, F))")  # checks the mask's shape
        if len(x_dec.shape) != 3 or x_dec.shape[0] != x_enc.shape[0]:
            raise InputError(
                f"EncoderDecoder {self.name!r}: decoder inputs must be (B, T_out, V_in) with B = {x_enc.shape[0]}, "
                f"got shape {tuple(x_dec.shape)}"
            )
        y, cache = self._current_graph().forward([x_enc, x_dec], mask=None if mask is None else [mask, None],
                                       training=training, rng=rng)  # (B, T_out, V)
        return y, EncoderDecoderCache([], cache, False)

    def generate(self, x_enc: Any, steps: int, *, mask: Any = None, start: Any = None, training: bool = False,
                 rng: np.random.Generator | None = None) -> tuple[Any, EncoderDecoderCache]:
        """Decode ``steps`` outputs, feeding each back as the next input (needs V_in == V).
        ``start`` (B, V_in) is the first decoder input, zeros by default. Returns y: (B, steps, V)."""
        finals, enc_caches = self._encode(x_enc, mask, training, rng)
        if start is None:
            V_in = self.decoder[0].input_features
            if V_in is None:
                raise ConfigError(
                    f"EncoderDecoder {self.name!r} is not built: train it, call build(), or pass start=(B, V_in)"
                )
            start = zeros((x_enc.shape[0], V_in), like=x_enc, dtype=self.dtype)
        y, dcache, _ = decode(self.decoder, self.head, start, finals, steps, True, training, rng,
                              self.init_rng, self.dtype, f"EncoderDecoder {self.name!r}")
        return y, EncoderDecoderCache(enc_caches, dcache, True)

    def backward(self, dy: Any, cache: EncoderDecoderCache) -> Any:
        """Returns the gradient of the source (B, T_in, F) (and, in teacher forcing, of the decoder inputs)."""
        if cache.generated:
            _, dstates = decode_backward(self.decoder, self.head, dy, cache.dec)
            dx_dec = None
        else:
            dx_enc, dx_dec = self._current_graph().backward(dy, cache.dec)  # (B, T_in, F), (B, T_out, V_in)
            return dx_enc, dx_dec
        dx_enc_tm, _ = run_stack_backward(self.encoder, None, dstates, cache.enc_caches)
        dx_enc = dx_enc_tm.transpose(1, 0, 2)  # (B, T_in, F)
        return dx_enc if dx_dec is None else (dx_enc, dx_dec)

    @staticmethod
    def teacher_inputs(y: Any, start: Any = None) -> Any:
        """The decoder inputs for teacher forcing: the targets shifted right by one step, ``start``
        (zeros by default) first. Args: y: (B, T_out, V). Returns (B, T_out, V)."""
        first = zeros((y.shape[0], 1, y.shape[2]), like=y) if start is None else start[:, None]
        return np.concatenate([first, y[:, :-1]], axis=1)  # (B, T_out, V)
