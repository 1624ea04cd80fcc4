"""EncoderDecoder: many-to-many with T_in != T_out (translation, Karpathy's mode 4).

Note: one way to do each thing. In training (teacher forcing) this model is exactly the graph

    source = Input("(B, T_in, F)"); target = Input("(B, T_out, V_in)")
    _, h, c = LSTM(H, return_sequences=True, return_state=True)(source)       # per encoder layer
    y = LSTM(H, return_sequences=True)(target, initial_state=[h, c])         # per decoder layer
    Model(inputs=[source, target], outputs=Dense(V)(y))

(``tests/test_models_as_graphs.py`` checks outputs and every gradient against that Functional, with
the same weights), and it keeps no copy of the shape rules or of a time loop: every layer runs its
own ``run`` (the loop ``forward`` runs), through :mod:`shapeviz.core.stack`. It is not rebuilt on a
``Functional`` inside, for two reasons:

- The layers the user passes keep their own options (``LSTM(32)``: ``return_sequences=False``,
  ``return_state=False``), which this class ignores: it takes every step and the final states
  from ``run``. A graph calls ``forward``, whose outputs follow those options, so the graph would
  need other layers (or the user's with other options), and the traces, JSON documents and
  pictures show the layers' options and records (``tests/golden/json/many_to_many.json``):
  they would change.
- :meth:`generate` feeds each output back as the next step's input. A step's input then depends
  on the previous step's output through the head: a loop over time through several layers,
  which a directed acyclic graph cannot hold without unrolling ``steps`` copies of the stack.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from shapeviz.core.backend import zeros
from shapeviz.core.inputs import InputSpec, read_front
from shapeviz.core.layer import Layer
from shapeviz.core.model import Model
from shapeviz.core.recurrent import Recurrent, time_major_mask
from shapeviz.core.stack import check_stack, decode, decode_backward, run_stack, run_stack_backward
from shapeviz.errors import ConfigError, InputError


class EncoderDecoderCache(NamedTuple):
    enc_caches: list
    dec: Any  # teacher forcing: (dec caches, head cache); generation: a DecodeCache
    generated: bool


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
        owner = f"EncoderDecoder {self.name!r}"
        self.encoder = check_stack(encoder, owner, "encoder")
        self.decoder = check_stack(decoder, owner, "decoder")
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
        if not isinstance(head, Layer):
            raise ConfigError(f"{owner}: the head must be a layer such as Dense(V), got {type(head).__name__}")
        self.head = head

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
        finals, enc_caches = self._encode(x_enc, mask, training, rng)
        if len(x_dec.shape) != 3 or x_dec.shape[0] != x_enc.shape[0]:
            raise InputError(
                f"EncoderDecoder {self.name!r}: decoder inputs must be (B, T_out, V_in) with B = {x_enc.shape[0]}, "
                f"got shape {tuple(x_dec.shape)}"
            )
        if x_dec.dtype != self.dtype:
            x_dec = x_dec.astype(self.dtype)
        top, _, dec_caches = run_stack(self.decoder, x_dec.transpose(1, 0, 2), None, finals, training, rng,
                                       self.init_rng, self.dtype)  # (T_out, B, H)
        hs = top.transpose(1, 0, 2)  # (B, T_out, H)
        self.head.ensure_built(hs, self.init_rng, self.dtype)
        y, head_cache = self.head.forward(hs, training=training, rng=rng)  # (B, T_out, V)
        return y, EncoderDecoderCache(enc_caches, (dec_caches, head_cache), False)

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
            dec_caches, head_cache = cache.dec
            dhs = self.head.backward(dy, head_cache)  # (B, T_out, H)
            dx_dec_tm, dstates = run_stack_backward(self.decoder, dhs.transpose(1, 0, 2), [None] * len(self.decoder),
                                                    dec_caches)
            dx_dec = dx_dec_tm.transpose(1, 0, 2)  # (B, T_out, V_in)
        dx_enc_tm, _ = run_stack_backward(self.encoder, None, dstates, cache.enc_caches)
        dx_enc = dx_enc_tm.transpose(1, 0, 2)  # (B, T_in, F)
        return dx_enc if dx_dec is None else (dx_enc, dx_dec)

    @staticmethod
    def teacher_inputs(y: Any, start: Any = None) -> Any:
        """The decoder inputs for teacher forcing: the targets shifted right by one step, ``start``
        (zeros by default) first. Args: y: (B, T_out, V). Returns (B, T_out, V)."""
        first = zeros((y.shape[0], 1, y.shape[2]), like=y) if start is None else start[:, None]
        return np.concatenate([first, y[:, :-1]], axis=1)  # (B, T_out, V)
