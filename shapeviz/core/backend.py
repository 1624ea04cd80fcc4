"""The few hooks through which the numeric core creates arrays, loops over time and draws noise.

Everything else in the core is plain numpy (ufuncs, matmul, slicing, concatenate), so
the tracer can run the same code on symbolic arrays by implementing numpy's
``__array_ufunc__``/``__array_function__`` protocols and overriding these hooks.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

import numpy as np


# ``np.zeros(shape, like=x)`` turns ``shape`` into ints before it dispatches on ``like``, so a
# symbolic shape could not pass; ``*_like(x, shape=...)`` dispatches first. order="C" keeps
# buffers contiguous whatever the layout of ``like``.
def zeros(shape: tuple, like: Any, dtype: Any = None) -> Any:
    """An array of zeros of ``shape`` of the same kind (numpy or symbolic) as ``like``."""
    return np.zeros_like(like, dtype=like.dtype if dtype is None else dtype, order="C", shape=shape)


def empty(shape: tuple, like: Any, dtype: Any = None) -> Any:
    """An uninitialised array of ``shape`` of the same kind as ``like`` (for preallocated buffers)."""
    return np.empty_like(like, dtype=like.dtype if dtype is None else dtype, order="C", shape=shape)


def _concrete_steps(length: Any, reverse: bool = False) -> Iterable[Any]:
    return range(length - 1, -1, -1) if reverse else range(length)


def _concrete_mask(rng: np.random.Generator, shape: tuple, rate: float, like: Any) -> Any:
    keep = 1.0 - rate
    draw = rng.random(shape)  # values in [0, 1)
    mask = (draw < keep).astype(like.dtype)
    mask *= like.dtype.type(1.0 / keep)
    return mask


def _concrete_revisit(visited: list) -> Iterable[Any]:
    return reversed(visited)


def _concrete_param(shape: tuple, dtype: Any, make: Callable[[], Any]) -> Any:
    return make()


_hooks: dict[str, Any] = {"steps": _concrete_steps, "mask": _concrete_mask, "record": None,
                          "revisit": _concrete_revisit, "param": _concrete_param}


def new_param(shape: tuple, dtype: Any, make: Callable[[], Any]) -> Any:
    """A parameter (or gradient) array of ``shape`` and ``dtype``: ``make()`` in a real run.

    This is the one place a layer's build allocates, so that a dry build (the tracer's
    ``dry_params``) can stand in a zero-stride array that costs no memory, and count what a
    real build would allocate before anything is.
    """
    return _hooks["param"](tuple(int(d) for d in shape), np.dtype(dtype), make)


def timesteps(length: Any, reverse: bool = False) -> Iterable[Any]:
    """The timestep indices a time loop visits: ``0..T-1`` (or ``T-1..0`` with ``reverse``).

    This is the one place a loop over time asks how many steps there are, so a
    symbolic ``T`` can be traced over a few representative steps instead of all of them.
    """
    return _hooks["steps"](length, reverse)


def revisit(visited: list) -> Iterable[Any]:
    """The steps a step-by-step loop visited, last first, for its backward pass. Each item starts
    with its step index ``t``; going through this hook lets the tracer label the steps."""
    return _hooks["revisit"](visited)


def dropout_mask(rng: np.random.Generator, shape: tuple, rate: float, like: Any) -> Any:
    """An inverted-dropout keep mask of ``shape``: ``0`` with probability ``rate``, else ``1/(1-rate)``."""
    return _hooks["mask"](rng, shape, rate, like)


def recorder() -> Callable[[str, Any, dict], None] | None:
    """The function a time loop reports each step's tensors to — ``rec(event, t, {name: array})``
    — or None when nobody listens (a real run: the loop then does nothing extra)."""
    return _hooks["record"]


@contextmanager
def override(**hooks: Callable[..., Any]) -> Iterator[None]:
    """Temporarily replace hooks (``steps``, ``mask``, ``record``, ``revisit``, ``param``); used by the tracer."""
    unknown = set(hooks) - set(_hooks)
    if unknown:
        raise KeyError(f"unknown backend hooks: {sorted(unknown)}")
    saved = dict(_hooks)
    _hooks.update(hooks)
    try:
        yield
    finally:
        _hooks.clear()
        _hooks.update(saved)
