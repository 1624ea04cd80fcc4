"""Weights between Keras's layout (``get_weights`` order) and PyTorch's nn.RNN/nn.LSTM/nn.GRU state_dict.

numpy in, numpy out: this module does not import torch. To load a shapeviz layer into
``torch.nn.LSTM(F, H, batch_first=True)``::

    sd = {k: torch.from_numpy(v) for k, v in to_torch_weights("lstm", layer.get_weights()).items()}
    module.load_state_dict(sd)

The mapping, per kind (``kernel (F, kH)``, ``recurrent_kernel (H, kH)``; torch keeps
``weight_ih (kH, F)``, ``weight_hh (kH, H)``, ``bias_ih (kH,)``, ``bias_hh (kH,)``):

- ``simple_rnn``: ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``,
  ``bias_ih = bias``, ``bias_hh = 0``.
- ``lstm``: the same; both use gate order i, f, g (Keras's c), o.
  Back from torch, ``bias = bias_ih + bias_hh`` (Keras has one bias).
- ``gru`` (Keras ``reset_after=True``): torch orders the gates r, z, n where Keras has
  z, r, h, so the first two H-blocks swap; ``bias_ih = bias[0]``, ``bias_hh = bias[1]``
  (reordered the same way). torch's ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` is
  Keras's reset_after candidate.

A layer without bias (``use_bias=False``) has two Keras weights and maps to a torch
module built with ``bias=False``. ``suffix`` names the torch layer and direction
(``"_l0"``, ``"_l1"``, ``"_l0_reverse"``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from shapeviz.errors import CheckpointError, ConfigError

_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def _gates(kind: str) -> int:
    try:
        return _GATES[kind]
    except KeyError:
        raise ConfigError(f"no torch conversion for layer kind {kind!r}, expected one of {sorted(_GATES)}") from None


def _swap_zr(a: np.ndarray, H: int) -> np.ndarray:
    """Swap the first two H-blocks of axis 0: Keras z, r, h <-> torch r, z, n (its own inverse)."""
    return np.concatenate([a[H:2 * H], a[:H], a[2 * H:]], axis=0)


def to_torch_weights(kind: str, weights: Sequence[np.ndarray], suffix: str = "_l0") -> dict[str, np.ndarray]:
    """Keras-ordered weights of a ``kind`` layer (``"simple_rnn"``, ``"lstm"``, ``"gru"``) as
    torch state_dict arrays ``weight_ih{suffix}``, ``weight_hh{suffix}`` and, with a bias,
    ``bias_ih{suffix}``, ``bias_hh{suffix}``."""
    k = _gates(kind)
    if len(weights) not in (2, 3):
        raise CheckpointError(
            f"a {kind} layer has 2 or 3 weights [kernel, recurrent_kernel(, bias)], got {len(weights)} arrays"
        )
    kernel, recurrent = (np.asarray(w) for w in weights[:2])
    if recurrent.ndim != 2 or recurrent.shape[1] != k * recurrent.shape[0]:
        raise CheckpointError(
            f"a {kind} recurrent_kernel must have shape (H, {k}*H), got {recurrent.shape}"
        )
    H = recurrent.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != k * H:
        raise CheckpointError(f"a {kind} kernel must have shape (F, {k * H}) for H={H}, got {kernel.shape}")
    w_ih, w_hh = kernel.T.copy(), recurrent.T.copy()  # (kH, F), (kH, H)
    if kind == "gru":
        w_ih, w_hh = _swap_zr(w_ih, H), _swap_zr(w_hh, H)
    out = {f"weight_ih{suffix}": w_ih, f"weight_hh{suffix}": w_hh}
    if len(weights) == 3:
        bias = np.asarray(weights[2])
        if kind == "gru":
            if bias.shape != (2, 3 * H):
                raise CheckpointError(f"a gru bias (reset_after=True) must have shape (2, {3 * H}), got {bias.shape}")
            b_ih, b_hh = _swap_zr(bias[0], H), _swap_zr(bias[1], H)
        else:
            if bias.shape != (k * H,):
                raise CheckpointError(f"a {kind} bias must have shape ({k * H},), got {bias.shape}")
            b_ih, b_hh = bias.copy(), np.zeros_like(bias)
        out[f"bias_ih{suffix}"] = b_ih
        out[f"bias_hh{suffix}"] = b_hh
    return out


def from_torch_weights(kind: str, state: Mapping[str, np.ndarray], suffix: str = "_l0") -> list[np.ndarray]:
    """torch state_dict arrays (numpy) of one layer/direction as Keras-ordered weights for
    ``set_weights``: ``[kernel, recurrent_kernel]`` plus ``bias`` when the module has biases."""
    k = _gates(kind)
    try:
        w_ih = np.asarray(state[f"weight_ih{suffix}"])
        w_hh = np.asarray(state[f"weight_hh{suffix}"])
    except KeyError as e:
        raise CheckpointError(f"torch {kind} state has no {e.args[0]!r}; keys: {sorted(state)}") from None
    H = w_hh.shape[1] if w_hh.ndim == 2 else -1
    if w_hh.shape != (k * H, H) or w_ih.ndim != 2 or w_ih.shape[0] != k * H:
        raise CheckpointError(
            f"torch {kind} weights must be weight_ih ({k}*H, F) and weight_hh ({k}*H, H), "
            f"got {w_ih.shape} and {w_hh.shape}"
        )
    if kind == "gru":
        w_ih, w_hh = _swap_zr(w_ih, H), _swap_zr(w_hh, H)
    weights = [w_ih.T.copy(), w_hh.T.copy()]  # (F, kH), (H, kH)
    if f"bias_ih{suffix}" in state or f"bias_hh{suffix}" in state:
        b_ih = np.asarray(state.get(f"bias_ih{suffix}", np.zeros(k * H, dtype=w_ih.dtype)))
        b_hh = np.asarray(state.get(f"bias_hh{suffix}", np.zeros(k * H, dtype=w_ih.dtype)))
        if b_ih.shape != (k * H,) or b_hh.shape != (k * H,):
            raise CheckpointError(f"torch {kind} biases must have shape ({k * H},), got {b_ih.shape} and {b_hh.shape}")
        if kind == "gru":
            weights.append(np.stack([_swap_zr(b_ih, H), _swap_zr(b_hh, H)]))  # (2, 3H)
        else:
            weights.append(b_ih + b_hh)  # (kH,)
    return weights
