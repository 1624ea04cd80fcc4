"""Merges: layers that take a list of tensors (Add, Subtract, Multiply, Average, Concatenate, Stack)."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np

from shapeviz.core.layer import Layer, check_choice
from shapeviz.errors import ConfigError, InputError


#: How a merge combines its inputs' masks (see :class:`Merge`).
MASK_MODES = ("and", "or")


class _Shapes(NamedTuple):
    shape: tuple  # the input shapes, one per input: what Layer.ensure_built reads off "x.shape"


class MergeCache(NamedTuple):
    xs: list  # the inputs, each (B, ...)
    shapes: list  # their shapes


def _check_axis(axis: Any, owner: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ConfigError(f"{owner}: received an invalid value for `axis`, expected an integer, got {axis!r}")
    return int(axis)


def _unbroadcast(d: Any, shape: tuple) -> Any:
    """Sum ``d`` over the axes an input of ``shape`` (same rank) was broadcast along (its 1s)."""
    axes = tuple(i for i, (n, m) in enumerate(zip(shape, d.shape)) if n == 1 and not m == 1)
    return d.sum(axis=axes, keepdims=True) if axes else d


class Merge(Layer):
    """Base of the layers that read a list of inputs (``multi_input``).

    ``forward(xs, mask=[...])`` takes a list of arrays and one mask (or None) per input;
    ``backward(dy, cache)`` returns the list of input gradients, in order; ``output_mask(masks)``
    combines the inputs' masks (Keras: the logical AND of those present).

    ``mask_mode`` says how the masks combine: ``"and"`` (default; tf.keras's rule, the AND of the
    masks present) or ``"or"`` (Keras 3's ``Merge.compute_mask``: no mask when any input has none,
    else the OR of the masks), so that a model imported from Keras 3 hands on the masks Keras does.
    """

    kind = "merge"
    multi_input: ClassVar[bool] = True
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = None

    def __init__(self, name: str | None = None, mask_mode: str = "and") -> None:
        super().__init__(name)
        self.mask_mode = check_choice(mask_mode, "mask_mode", f"{type(self).__name__} {self.name!r}", MASK_MODES)

    # -- inputs -------------------------------------------------------------------------
    def _inputs(self, xs: Any) -> list:
        """``xs`` as a list of arrays, or an InputError naming this layer."""
        if not isinstance(xs, (list, tuple)) or any(not hasattr(x, "shape") for x in xs):
            got = type(xs).__name__ if not isinstance(xs, (list, tuple)) else \
                "a list holding " + ", ".join(type(x).__name__ for x in xs)
            raise InputError(f"layer {self.name!r} ({self.kind}) expects a list of arrays, got {got}")
        n = len(xs)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            if self.max_inputs == self.min_inputs:
                want = f"exactly {self.min_inputs}"
            else:
                want = f"at least {self.min_inputs}"
            raise InputError(f"layer {self.name!r} ({self.kind}) expects {want} inputs, got {n}")
        for i, x in enumerate(xs):
            if len(x.shape) == 0 or any(d == 0 for d in x.shape):
                raise InputError(f"layer {self.name!r} ({self.kind}) got an empty or 0-d input {i} of shape "
                                 f"{tuple(x.shape)}: every input needs a batch axis with entries")
        return list(xs)

    def _masks(self, mask: Any, n: int, same_shape: bool = True) -> list:
        """One mask (or None) per input; present masks must have one shape (unless joined, ``same_shape``)."""
        if mask is None:
            return [None] * n
        if not isinstance(mask, (list, tuple)) or len(mask) != n:
            got = f"{len(mask)} masks" if isinstance(mask, (list, tuple)) else f"a {type(mask).__name__}"
            raise InputError(f"layer {self.name!r} ({self.kind}) takes a list of {n} masks (one per input, "
                             f"None for an unmasked one), got {got}")
        shapes = [tuple(m.shape) for m in mask if m is not None]
        if same_shape and any(s != shapes[0] for s in shapes[1:]):
            raise InputError(f"layer {self.name!r} ({self.kind}): the inputs' masks must have one shape (B, T), "
                             f"got {shapes}")
        return list(mask)

    def _shapes_text(self, xs: list) -> str:
        return ", ".join(f"{tuple(x.shape)} for input {i}" for i, x in enumerate(xs))

    def _check_ranks(self, xs: list) -> None:
        ranks = {len(x.shape) for x in xs}
        if len(ranks) > 1:
            raise InputError(f"layer {self.name!r} ({self.kind}) expects inputs of one rank, got "
                             f"{self._shapes_text(xs)}")

    # -- building ------------------------------------------------------------------------
    def ensure_built(self, xs: Any, rng: np.random.Generator | None = None, dtype: Any = None) -> None:
        """Build on first use from the list of input shapes (a merge has no weights)."""
        xs = self._inputs(xs)
        super().ensure_built(_Shapes(tuple(tuple(x.shape) for x in xs)), rng, dtype)

    # -- masks ---------------------------------------------------------------------------
    def output_mask(self, masks: Any) -> Any:
        """The logical AND of the masks present (Keras's Merge.compute_mask), None when none is."""
        present = [m for m in (masks or []) if m is not None]
        if not present:
            return None
        if self.mask_mode == "or":
            if len(present) < len(masks):
                return None  # Keras 3: an unmasked input unmasks the output
            return np.logical_or.reduce(present)  # (B, T)
        out = present[0]
        for m in present[1:]:
            out = np.logical_and(out, m)  # (B, T)
        return out

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self._mask_config()}

    def _mask_config(self) -> dict[str, Any]:
        return {"mask_mode": self.mask_mode} if self.mask_mode != "and" else {}


class _Elementwise(Merge):
    """Elementwise merges: inputs of one rank and batch size; other axes equal, or 1 to broadcast."""

    def _check_shapes(self, xs: list) -> None:
        self._check_ranks(xs)
        ndim = len(xs[0].shape)
        for axis in range(ndim):
            sizes = [x.shape[axis] for x in xs]
            big = next((d for d in sizes if not d == 1), sizes[0])
            for i, d in enumerate(sizes):
                if d == big or (axis > 0 and d == 1):
                    continue
                why = "the batch sizes differ" if axis == 0 else "an axis must be equal, or 1 to broadcast"
                raise InputError(
                    f"layer {self.name!r} ({self.kind}) expects inputs of one shape ({why}), got "
                    f"{self._shapes_text(xs)}: axis {axis} is {big} in one and {d} in input {i}")

    def forward(self, xs: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, MergeCache]:
        """Args: xs: a list of arrays, e.g. each (B, T, F); mask: None or one (B, T) mask or None per
        input (the output's mask is ``output_mask``). Returns y: the broadcast shape, e.g. (B, T, F)."""
        self.ensure_built(xs, rng)
        xs = self._inputs(xs)
        self._masks(mask, len(xs))
        self._check_shapes(xs)
        return self._combine(xs), MergeCache(xs, [tuple(x.shape) for x in xs])

    def backward(self, dy: Any, cache: MergeCache) -> list:
        """Args: dy: the output's shape. Returns the gradient of each input, in order."""
        return [_unbroadcast(d, s) for d, s in zip(self._grads(dy, cache.xs), cache.shapes)]

    def _combine(self, xs: list) -> Any:
        raise NotImplementedError

    def _grads(self, dy: Any, xs: list) -> list:
        raise NotImplementedError


class Add(_Elementwise):
    """``y = x_1 + x_2 + ... + x_n`` (Keras's Add): inputs of one shape, e.g. (B, T, F)."""

    kind = "add"

    def _combine(self, xs: list) -> Any:
        y = xs[0]
        for x in xs[1:]:
            y = y + x  # (B, ..., F)
        return y

    def _grads(self, dy: Any, xs: list) -> list:
        return [dy for _ in xs]


class Subtract(_Elementwise):
    """``y = x_1 - x_2`` (Keras's Subtract): exactly two inputs of one shape."""

    kind = "subtract"
    min_inputs = 2
    max_inputs = 2

    def _combine(self, xs: list) -> Any:
        return xs[0] - xs[1]  # (B, ..., F)

    def _grads(self, dy: Any, xs: list) -> list:
        return [dy, -dy]


class Multiply(_Elementwise):
    """``y = x_1 * x_2 * ... * x_n`` elementwise (Keras's Multiply)."""

    kind = "multiply"

    def _combine(self, xs: list) -> Any:
        y = xs[0]
        for x in xs[1:]:
            y = y * x  # (B, ..., F)
        return y

    def _grads(self, dy: Any, xs: list) -> list:
        # d y / d x_i is the product of the others: prefix and suffix products, no division by x_i
        n = len(xs)
        before: list[Any] = [None] * n
        after: list[Any] = [None] * n
        for i in range(1, n):
            before[i] = xs[i - 1] if before[i - 1] is None else before[i - 1] * xs[i - 1]
        for i in range(n - 2, -1, -1):
            after[i] = xs[i + 1] if after[i + 1] is None else after[i + 1] * xs[i + 1]
        grads = []
        for b, a in zip(before, after):
            d = dy
            if b is not None:
                d = d * b  # (B, ..., F)
            if a is not None:
                d = d * a  # (B, ..., F)
            grads.append(d)
        return grads


class Average(_Elementwise):
    """``y = (x_1 + ... + x_n) / n`` elementwise (Keras's Average)."""

    kind = "average"

    def _combine(self, xs: list) -> Any:
        y = xs[0]
        for x in xs[1:]:
            y = y + x  # (B, ..., F)
        return y * (1.0 / len(xs))  # (B, ..., F)

    def _grads(self, dy: Any, xs: list) -> list:
        d = dy * (1.0 / len(xs))  # (B, ..., F)
        return [d for _ in xs]


class Concatenate(Merge):
    """``y = concatenate(xs, axis)`` (Keras's Concatenate, torch.cat).

    Args:
        axis: the axis to join along, -1 (features) by default; the inputs agree on every other axis.

    Masks (each (B, T), read as the batch and time axes 0 and 1 of batch-first data): joining along
    an axis after the time axis (features) keeps every (b, t) position, and the output's mask is the
    AND of the masks present, a missing one counting as all-True (tf.keras's rule), or with
    ``mask_mode="or"`` Keras 3's OR, a missing one counting as all-True (so no mask then). Joining along the time or batch axis joins the masks along it, which needs every input to
    have a mask (or none to have one).
    """

    kind = "concatenate"

    def __init__(self, axis: int = -1, name: str | None = None, mask_mode: str = "and") -> None:
        super().__init__(name, mask_mode)
        self.axis = _check_axis(axis, f"Concatenate {self.name!r}")
        self.input_rank: int | None = None

    def build(self, input_shape: Any, rng: np.random.Generator | None = None, dtype: Any = None) -> None:
        super().build(input_shape, rng, dtype)
        self.input_rank = len(input_shape[0])  # fixes which axis the masks are joined along

    def _axis(self, ndim: int) -> int:
        if not -ndim <= self.axis < ndim:
            raise InputError(f"layer {self.name!r} ({self.kind}): axis {self.axis} is out of range for inputs of "
                             f"rank {ndim}")
        return self.axis % ndim

    def forward(self, xs: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, MergeCache]:
        """Args: xs: a list of arrays of one rank, e.g. (B, T, F_i); mask: None or one (B, T) mask or
        None per input. Returns y, e.g. (B, T, F_1 + ... + F_n) for axis -1."""
        self.ensure_built(xs, rng)
        xs = self._inputs(xs)
        self._check_ranks(xs)
        ndim = len(xs[0].shape)
        if self.input_rank is not None and ndim != self.input_rank:
            raise InputError(f"layer {self.name!r} ({self.kind}) was built for inputs of rank {self.input_rank}, "
                             f"got {self._shapes_text(xs)}")
        ax = self._axis(ndim)
        for axis in range(ndim):
            if axis == ax:
                continue
            first = xs[0].shape[axis]
            for i, x in enumerate(xs[1:], 1):
                if not x.shape[axis] == first:
                    raise InputError(
                        f"layer {self.name!r} ({self.kind}) expects inputs of one shape except along axis "
                        f"{self.axis}, got {self._shapes_text(xs)}: axis {axis} is {first} in input 0 and "
                        f"{x.shape[axis]} in input {i}")
        masks = self._masks(mask, len(xs), same_shape=ax >= 2)
        if ax < 2 and any(m is not None for m in masks):
            if any(m is None for m in masks):
                raise InputError(f"layer {self.name!r} ({self.kind}) joins along axis {self.axis} (batch or time), "
                                 "so the masks are joined too: give every input a mask, or none")
            for i, (x, m) in enumerate(zip(xs, masks)):
                if ndim < 2 or tuple(m.shape) != tuple(x.shape[:2]):
                    raise InputError(f"layer {self.name!r} ({self.kind}): joining along axis {self.axis} needs "
                                     f"batch-first inputs (B, T, ...) with (B, T) masks, got input {i} of shape "
                                     f"{tuple(x.shape)} with a mask of shape {tuple(m.shape)}")
        y = np.concatenate(xs, axis=ax)  # (B, T, F_1 + ... + F_n)
        return y, MergeCache([], [tuple(x.shape) for x in xs])

    def backward(self, dy: Any, cache: MergeCache) -> list:
        """Args: dy: the output's shape. Returns each input's block of dy along the axis."""
        ax = self._axis(len(dy.shape))
        grads = []
        start: Any = 0
        for shape in cache.shapes:
            stop = start + shape[ax]
            key = (slice(None),) * ax + (slice(start, stop),)
            grads.append(dy[key])  # the input's shape
            start = stop
        return grads

    def output_mask(self, masks: Any) -> Any:
        """Along features: the AND of the masks present; along batch or time: the masks joined."""
        present = [m for m in (masks or []) if m is not None]
        if not present:
            return None
        ax = self.axis % (self.input_rank or 3)  # masks go with (B, T, ...) data: rank 3 unless built
        if ax >= 2:
            return super().output_mask(masks)
        return np.concatenate(present, axis=ax)  # (B, T_1 + ... + T_n) or (B_1 + ... + B_n, T)

    def config(self) -> dict[str, Any]:
        return {"axis": self.axis, "name": self.name, **self._mask_config()}


class Stack(Merge):
    """``y = stack(xs, axis)`` (torch.stack, numpy's stack): inputs of one shape joined along a new axis.

    Args:
        axis: where the new axis goes in the output, 0 by default (torch's ``h_n`` (L*D, B, H) is a
            stack of (B, H) states); negative values count from the end of the output's axes.

    Masks are dropped (``supports_masking`` is False): the new axis moves the (B, T) positions.
    """

    kind = "stack"
    supports_masking: ClassVar[bool] = False

    def __init__(self, axis: int = 0, name: str | None = None) -> None:
        super().__init__(name)
        self.axis = _check_axis(axis, f"Stack {self.name!r}")

    def _axis(self, ndim: int) -> int:
        if not -(ndim + 1) <= self.axis <= ndim:
            raise InputError(f"layer {self.name!r} ({self.kind}): axis {self.axis} is out of range for stacking "
                             f"inputs of rank {ndim} (the output has rank {ndim + 1})")
        return self.axis % (ndim + 1)

    def forward(self, xs: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, MergeCache]:
        """Args: xs: n arrays of one shape, e.g. each (B, H). Returns y, e.g. (n, B, H) for axis 0."""
        self.ensure_built(xs, rng)
        xs = self._inputs(xs)
        self._check_ranks(xs)
        for i, x in enumerate(xs[1:], 1):
            if any(not a == b for a, b in zip(x.shape, xs[0].shape)):
                raise InputError(f"layer {self.name!r} ({self.kind}) expects inputs of one shape, got "
                                 f"{self._shapes_text(xs)}")
        ax = self._axis(len(xs[0].shape))
        return np.stack(xs, axis=ax), MergeCache([], [tuple(x.shape) for x in xs])  # (n, B, H)

    def backward(self, dy: Any, cache: MergeCache) -> list:
        """Args: dy: (n, B, H) for axis 0. Returns each input's slice of dy, each (B, H)."""
        ax = self._axis(len(cache.shapes[0]))
        return [dy[(slice(None),) * ax + (i,)] for i in range(len(cache.shapes))]  # (B, H) each

    def output_mask(self, masks: Any) -> Any:
        return None

    def config(self) -> dict[str, Any]:
        return {"axis": self.axis, "name": self.name}


__all__ = ["Merge", "Add", "Subtract", "Multiply", "Average", "Concatenate", "Stack"]
