"""Operation counting: the multiply-accumulates and FLOPs of every operation the tracer runs symbolically.

The symbolic ops (:mod:`~shapeviz.tracing.symarray`, :mod:`~shapeviz.tracing.shapes`,
:mod:`~shapeviz.tracing.functions`, :mod:`~shapeviz.tracing.fastpaths`) report each operation here
at the point where its output shape is decided, as a shape and a kind; the active trace's
:class:`Counter` tallies them by where the run is (layer, phase, the timesteps of the loops it is
in). Shapes are tallied, not multiplied out: an op seen a thousand times costs one dict update,
and the polynomials are formed once, at the end (:mod:`~shapeviz.tracing.cost`).

The convention (see docs/json-format.md, "cost"):

- ``matmul``/``@``/``np.dot`` of an ``(…, M, K)`` and a ``(…, K, N)``: ``M·N·K`` (times the
  broadcast batch) multiply-accumulates (MACs, torchinfo's "Mult-Adds"), 2 FLOPs each;
- an arithmetic ufunc (``+ - * /``, ``maximum``, ``negative``...): 1 FLOP per output element;
- a transcendental ufunc (``exp``, ``exp2``, ``tanh``, ``log``, ``sqrt``, ``power``...): 1
  transcendental op per output element, counted apart and as 1 FLOP in the total;
- a sum or max of N elements into M: N - M FLOPs; a mean: N; ``np.add.at``: 1 per added element;
- comparisons, logical ops, ``where``, copies, casts, indexing, ``take``, ``concatenate``: nothing
  (selection and data movement).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from shapeviz.tracing import context

MAC, ELEMENTWISE, TRANSCENDENTAL = "mac", "ew", "tr"

_FREE = (np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal, np.logical_and,
         np.logical_or, np.logical_xor, np.logical_not, np.isfinite, np.isnan, np.isinf, np.signbit,
         np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert, np.positive)
_TRANSCENDENTAL = (np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p, np.tanh, np.sinh, np.cosh,
                   np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.arctanh, np.arcsinh, np.arccosh,
                   np.sqrt, np.cbrt, np.power, np.float_power, np.logaddexp, np.logaddexp2)
# what one output element of a ufunc costs: None (free), "tr" or "ew" (the default)
UFUNC_KIND: dict[Any, str | None] = {**{u: None for u in _FREE}, **{u: TRANSCENDENTAL for u in _TRANSCENDENTAL}}

# a reduction named by the shape rules: per input element (+1) and per output element (-1)
_REDUCTIONS = {"sum": -1, "max": -1, "min": -1, "mean": 0, "norm": -1}


class Counter:
    """The tallies of one trace: ``buckets[where]`` holds ``{(kind, shape, k): n}``.

    ``where`` is what ``locate()`` returns (the tracer's layer, phase and loop steps); the bucket
    in use is a dict kept until :meth:`moved` says the run went elsewhere (a layer, a step or the
    phase changed), so a tally is one dict update. A bucket left is frozen and interned: the steps
    of a loop tally alike and share one frozen bucket, which keeps a long trace's memory (and the
    garbage collector's work) flat. An entry stands for ``n · product(shape) · k`` operations of its
    kind (``n`` may be negative: a reduction's outputs are subtracted); ``kind`` is "mac", "ew", "tr",
    or the ufunc itself (classified by :data:`UFUNC_KIND` when converted).
    """

    __slots__ = ("buckets", "current", "alive", "where", "locate", "_interned", "_last")

    def __init__(self, locate: Callable[[], Any]) -> None:
        self.buckets: dict[Any, frozenset] = {}
        self.current: dict[tuple, int] | None = None  # {(kind, id(shape), k): n} of the bucket in use
        self.alive: dict[int, tuple] = {}  # id -> shape of the bucket in use: keeps its ids valid
        self.where: Any = None
        self.locate = locate
        self._interned: dict[frozenset, frozenset] = {}
        self._last: tuple = (None, None, None)  # the last bucket left: by id, frozen, and its shapes

    def moved(self) -> None:
        current = self.current
        if current is None:
            return
        if current == self._last[0]:  # a step like the one before, on the same arrays (kept alive there)
            frozen = self._last[1]
        else:
            alive = self.alive
            merged: dict[tuple, int] = {}
            for (kind, ident, k), n in current.items():  # by value now: equal shapes of two steps are one
                key = (kind, alive[ident], k)
                merged[key] = merged.get(key, 0) + n
            frozen = frozenset(merged.items())
            frozen = self._interned.setdefault(frozen, frozen)
            self._last = (current, frozen, alive)
        self.buckets[self.where] = frozen
        self.current = None
        self.alive = {}

    def bucket(self) -> dict[tuple, int]:
        """The tallies of where the run is now (keyed by the shapes' ids; :meth:`moved` keys them by value)."""
        where = self.where = self.locate()
        before = self.buckets.get(where)
        bucket = self.current = {}
        if before:  # the run came back (a wrapper after its inner layer): go on from its tallies
            for (kind, shape, k), n in before:
                self.alive[id(shape)] = shape
                bucket[(kind, id(shape), k)] = n
        return bucket

    def add(self, kind: Any, shape: tuple, k: Any = 1, n: int = 1) -> None:
        bucket = self.current
        if bucket is None:
            bucket = self.bucket()
        ident = id(shape)
        self.alive[ident] = shape
        key = (kind, ident, k)
        bucket[key] = bucket.get(key, 0) + n

    def tallies(self) -> dict[Any, frozenset]:
        """Every bucket, the one in use included: ``{where: frozenset({((kind, shape, k), n)})}``."""
        self.moved()
        return self.buckets


def kind_of(kind: Any) -> str | None:
    """"mac", "ew", "tr", or None (free) for a tally's kind (a ufunc is classified here)."""
    if type(kind) is str:
        return kind
    return UFUNC_KIND.get(kind, ELEMENTWISE)


def active() -> Counter | None:
    """The counter of the trace running, or None (outside a trace, or a trace that does not count)."""
    stack = context._active
    return stack[-1].counter if stack else None


def ufunc_op(ufunc: Any, shape: tuple) -> None:
    """An elementwise ufunc wrote ``shape``."""
    stack = context._active
    if stack:
        counter = stack[-1].counter
        if counter is not None:
            counter.add(ufunc, shape)


def matmul_op(shape: tuple, k: Any) -> None:
    """A matmul made ``shape`` from an inner axis of ``k``: ``product(shape)·k`` MACs."""
    stack = context._active
    if stack:
        counter = stack[-1].counter
        if counter is not None:
            counter.add(MAC, shape, k)


def reduce_op(name: str, in_shape: tuple, out_shape: tuple) -> None:
    """A reduction (``sum``, ``mean``, ``max``...) of ``in_shape`` into ``out_shape``."""
    per_output = _REDUCTIONS.get(name)
    if per_output is None:
        return  # any, all, argmax, count_nonzero: comparisons
    counter = active()
    if counter is not None:
        counter.add(ELEMENTWISE, tuple(in_shape))
        if per_output:
            counter.add(ELEMENTWISE, tuple(out_shape), n=per_output)
        if name == "norm":  # the square of each element, then a square root per output
            counter.add(ELEMENTWISE, tuple(in_shape))
            counter.add(TRANSCENDENTAL, tuple(out_shape))


def elementwise_op(shape: tuple, n: int = 1) -> None:
    """``n`` arithmetic FLOPs per element of ``shape`` (``np.add.at``'s added values, ``clip``)."""
    counter = active()
    if counter is not None:
        counter.add(ELEMENTWISE, tuple(shape), n=n)
