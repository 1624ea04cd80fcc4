"""Whole-tensor axis operations, the batch axis included: Transpose, ReshapeAxes and Reduce.

Keras's Permute, Reshape and Flatten keep the batch axis first and never touch it; PyTorch code
moves and merges every axis (``out.permute(1, 0, 2)``, ``h.view(B, -1)``, ``x.mean(dim=1)``), and
an imported module needs those exactly. They drop masks: torch has none past a packed sequence.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np

from shapeviz.core.backend import zeros
from shapeviz.core.layer import Layer, check_choice
from shapeviz.errors import ConfigError, InputError

REDUCTIONS = ("mean", "sum", "max")


class AxesCache(NamedTuple):
    x_shape: tuple  # the input's shape
    idx: Any  # Reduce max: the winning index along the axis (keepdims), else None


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _product(sizes: Any) -> Any:
    n: Any = 1
    for d in sizes:
        n = n * d
    return n


class _AxesLayer(Layer):
    supports_masking: ClassVar[bool] = False

    def output_mask(self, mask: Any) -> Any:
        return None

    def _rank(self, x: Any, rank: int, what: str) -> None:
        if len(x.shape) != rank:
            raise InputError(f"layer {self.name!r} ({self.kind}) with {what} expects input of rank {rank}, got rank "
                             f"{len(x.shape)} with shape {tuple(x.shape)}")


class Transpose(_AxesLayer):
    """``y = x.transpose(axes)`` over every axis: ``Transpose((1, 0, 2))`` turns (T, B, F) into
    (B, T, F) (torch's ``permute(1, 0, 2)``, ``transpose(0, 1)``).

    Args:
        axes: a permutation of 0..k-1, the input axis each output axis takes.
    """

    kind = "transpose"

    def __init__(self, axes: Any, name: str | None = None) -> None:
        super().__init__(name)
        ok = isinstance(axes, (tuple, list)) and len(axes) > 0 and all(_is_int(a) for a in axes) and \
            sorted(int(a) for a in axes) == list(range(len(axes)))
        if not ok:
            raise ConfigError(f"Transpose {self.name!r}: received an invalid value for `axes`, expected a "
                              f"permutation of 0..k-1, got {axes!r}")
        self.axes = tuple(int(a) for a in axes)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, AxesCache]:
        """Args: x: e.g. (T, B, F). Returns y: x's axes in the order ``axes``, e.g. (B, T, F)."""
        self._rank(x, len(self.axes), f"axes {self.axes}")
        self.ensure_built(x, rng)
        return x.transpose(self.axes), AxesCache(tuple(x.shape), None)  # (B, T, F)

    def backward(self, dy: Any, cache: AxesCache) -> Any:
        inverse = tuple(self.axes.index(i) for i in range(len(self.axes)))
        return dy.transpose(inverse)  # (T, B, F)

    def config(self) -> dict[str, Any]:
        return {"axes": self.axes, "name": self.name}


class ReshapeAxes(_AxesLayer):
    """A reshape over every axis whose target names where each size comes from, so that it holds for
    any batch and sequence length: ``("axis", k)`` is the input's axis k, ``("merge", (j, k))`` the
    product of those input axes, an int a fixed size. torch's ``h.view(h.size(0), -1)`` on (B, T, H)
    is ``ReshapeAxes([("axis", 0), ("merge", (1, 2))])``, ``unsqueeze(0)`` on (B, H) is
    ``[1, ("axis", 0), ("axis", 1)]``.

    Args:
        target: one entry per output axis, as above.
        rank: the input's rank.
    """

    kind = "reshape_axes"

    def __init__(self, target: Any, rank: int, name: str | None = None) -> None:
        super().__init__(name)
        owner = f"ReshapeAxes {self.name!r}"
        entries = []
        for e in target:
            if _is_int(e) and e > 0:
                entries.append(int(e))
            elif isinstance(e, (tuple, list)) and len(e) == 2 and e[0] == "axis" and _is_int(e[1]) and 0 <= e[1] < rank:
                entries.append(("axis", int(e[1])))
            elif isinstance(e, (tuple, list)) and len(e) == 2 and e[0] == "merge" and \
                    all(_is_int(a) and 0 <= a < rank for a in e[1]):
                entries.append(("merge", tuple(int(a) for a in e[1])))
            else:
                raise ConfigError(f"{owner}: received an invalid value for `target`, expected positive ints, "
                                  f"(\"axis\", k) and (\"merge\", (j, k)) for k < {rank}, got {e!r} in {target!r}")
        self.target = tuple(entries)
        self.rank = int(rank)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, AxesCache]:
        """Args: x: e.g. (B, T, H). Returns y: the target shape, e.g. (B, T*H)."""
        self._rank(x, self.rank, f"target {self.target}")
        self.ensure_built(x, rng)
        shape = tuple(e if _is_int(e) else x.shape[e[1]] if e[0] == "axis" else _product(x.shape[a] for a in e[1])
                      for e in self.target)
        n_in, n_out = _product(x.shape), _product(shape)
        if _is_int(n_in) and _is_int(n_out) and n_in != n_out:
            raise InputError(f"layer {self.name!r} ({self.kind}) cannot reshape {tuple(x.shape)} ({n_in} elements) "
                             f"into {shape} ({n_out} elements)")
        # a copy, as Flatten makes: a view of a recurrent buffer and a view of a contiguous array would
        # count differently in the traced BPTT memory
        return x.reshape(shape).copy(), AxesCache(tuple(x.shape), None)  # e.g. (B, T*H)

    def backward(self, dy: Any, cache: AxesCache) -> Any:
        return dy.reshape(cache.x_shape)  # e.g. (B, T, H)

    def config(self) -> dict[str, Any]:
        return {"target": self.target, "rank": self.rank, "name": self.name}


class Reduce(_AxesLayer):
    """The mean, sum or max over one axis (torch's ``x.mean(dim=1)``, ``x.sum(0)``, ``x.max(dim=1)[0]``),
    with no mask: every step counts, as in torch. The max's gradient goes to the first index holding
    it (numpy's argmax, torch's ``max(dim)``).

    Args:
        op: ``"mean"``, ``"sum"`` or ``"max"``.
        axis: the axis to reduce (negative counts from the end).
        keepdims: keep it with length 1.
    """

    kind = "reduce"

    def __init__(self, op: str, axis: int, keepdims: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        owner = f"Reduce {self.name!r}"
        self.op = check_choice(op, "op", owner, REDUCTIONS)
        if not _is_int(axis):
            raise ConfigError(f"{owner}: received an invalid value for `axis`, expected an int, got {axis!r}")
        self.axis = int(axis)
        self.keepdims = bool(keepdims)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, AxesCache]:
        """Args: x: e.g. (B, T, H). Returns y: x without ``axis``, e.g. (B, H) for axis 1."""
        if not -len(x.shape) <= self.axis < len(x.shape):
            raise InputError(f"layer {self.name!r} ({self.kind}) reduces axis {self.axis}, got input of rank "
                             f"{len(x.shape)} with shape {tuple(x.shape)}")
        self.ensure_built(x, rng)
        ax = self.axis % len(x.shape)
        idx = None
        if self.op == "max":
            idx = np.argmax(x, axis=ax, keepdims=True)  # (B, 1, H)
            y = np.take_along_axis(x, idx, axis=ax)  # (B, 1, H)
        elif self.op == "sum":
            y = np.sum(x, axis=ax, keepdims=True)  # (B, 1, H)
        else:
            y = np.mean(x, axis=ax, keepdims=True)  # (B, 1, H)
        return (y if self.keepdims else y.squeeze(axis=ax)), AxesCache(tuple(x.shape), idx)

    def backward(self, dy: Any, cache: AxesCache) -> Any:
        ax = self.axis % len(cache.x_shape)
        dyk = dy if self.keepdims else np.expand_dims(dy, ax)  # (B, 1, H)
        if self.op == "max":
            dx = zeros(cache.x_shape, like=dyk)  # (B, T, H)
            np.put_along_axis(dx, cache.idx, dyk, axis=ax)
            return dx
        dx = zeros(cache.x_shape, like=dyk)  # (B, T, H)
        dx += dyk if self.op == "sum" else dyk / cache.x_shape[ax]  # (B, T, H)
        return dx

    def config(self) -> dict[str, Any]:
        return {"op": self.op, "axis": self.axis, "keepdims": self.keepdims, "name": self.name}


__all__ = ["Transpose", "ReshapeAxes", "Reduce"]
