"""Selection: ``x[key]`` with ints and slices (one step, the last step, a slice of steps, one state)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np

from shapeviz.core.backend import zeros
from shapeviz.core.layer import Layer
from shapeviz.errors import ConfigError, InputError

_INT = r"\s*-?\d+\s*"


class IndexCache(NamedTuple):
    x_shape: tuple  # the input's shape
    dtype: Any  # the input's dtype (the gradient's)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _parse(text: str, owner: str) -> tuple:
    """``"[:, -1]"`` -> ``(slice(None), -1)``: numpy's notation for ints and slices."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    key: list[Any] = []
    for part in body.split(","):
        part = part.strip()
        if re.fullmatch(_INT, part):
            key.append(int(part))
        elif re.fullmatch(rf"({_INT})?:({_INT})?(:({_INT})?)?", part):
            bounds = [int(b) if b.strip() else None for b in (part.split(":") + [""])[:3]]
            key.append(slice(*bounds))
        else:
            raise ConfigError(f"{owner}: received an invalid value for `key`, expected ints and slices such as "
                              f"\"[:, -1]\" or \"[1:3]\", got {text!r} (cannot read {part!r})")
    return tuple(key)


def _text(key: tuple) -> str:
    """``(slice(None), -1)`` -> ``"[:, -1]"``."""
    def one(k: Any) -> str:
        if isinstance(k, slice):
            parts = ["" if v is None else str(v) for v in (k.start, k.stop)]
            return ":".join(parts) + ("" if k.step is None else f":{k.step}")
        return str(k)
    return "[" + ", ".join(one(k) for k in key) + "]"


def _check_key(key: Any, owner: str) -> tuple:
    if isinstance(key, str):
        key = _parse(key, owner)
    if _is_int(key) or isinstance(key, slice):
        key = (key,)
    ok = isinstance(key, (tuple, list)) and len(key) > 0 and all(
        _is_int(k) or (isinstance(k, slice) and all(v is None or _is_int(v) for v in (k.start, k.stop, k.step)))
        for k in key)
    if not ok:
        raise ConfigError(f"{owner}: received an invalid value for `key`, expected a tuple of ints and slices "
                          f"(numpy's basic indexing, e.g. (slice(None), -1) or \"[:, -1]\"), got {key!r}")
    key = tuple(int(k) if _is_int(k) else slice(*(None if v is None else int(v) for v in (k.start, k.stop, k.step)))
                for k in key)
    if any(isinstance(k, slice) and k.step == 0 for k in key):
        raise ConfigError(f"{owner}: received an invalid value for `key`, a slice step cannot be zero, got {_text(key)}")
    return key


class Index(Layer):
    """``y = x[key]``: numpy's basic indexing with ints and slices (negative indices allowed); what
    PyTorch code writes as ``out[:, -1, :]`` or ``h_n[-1]``. The gradient scatters ``dy`` into zeros of
    x's shape.

    Args:
        key: a tuple of ints and slices (an int or a slice alone is a tuple of one), or the same
            written as text, ``"[:, -1]"``.
        time_major: the data is (T, B, ...) rather than (B, T, ...); says which key entries the mask
            (B, T) follows.

    The mask follows the time axis: an int on the time (or batch) axis drops it, slices slice it.
    """

    kind = "index"

    def __init__(self, key: Any, time_major: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.key = _check_key(key, f"{type(self).__name__} {self.name!r}")
        self.time_major = bool(time_major)

    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, IndexCache]:
        """Args: x: e.g. (B, T, F). Returns y = x[key], e.g. (B, F) for the key [:, -1]."""
        if len(x.shape) < len(self.key):
            raise InputError(f"layer {self.name!r} ({self.kind}) takes {_text(self.key)}, which indexes "
                             f"{len(self.key)} axes: it expects input of rank {len(self.key)} or more, "
                             f"got rank {len(x.shape)} with shape {tuple(x.shape)}")
        self.ensure_built(x, rng)
        try:
            y = x[self.key]  # e.g. (B, F)
        except IndexError as error:  # numpy's out-of-bounds index (the tracer raises its own ShapeError)
            raise InputError(f"layer {self.name!r} ({self.kind}) cannot take {_text(self.key)} of input shape "
                             f"{tuple(x.shape)}: {error}") from None
        return y, IndexCache(tuple(x.shape), x.dtype)

    def backward(self, dy: Any, cache: IndexCache) -> Any:
        """Args: dy: the output's shape. Returns dx: x's shape, dy where x was read, zero elsewhere."""
        dx = zeros(cache.x_shape, like=dy, dtype=cache.dtype)  # (B, T, F)
        dx[self.key] = dy
        return dx

    def output_mask(self, mask: Any) -> Any:
        """The (B, T) mask indexed like the data's batch and time axes; None once an int picks one."""
        if mask is None:
            return None
        full = self.key + (slice(None),) * max(0, 2 - len(self.key))
        t_key, b_key = (full[0], full[1]) if self.time_major else (full[1], full[0])
        if not isinstance(t_key, slice) or not isinstance(b_key, slice):
            return None
        return mask[b_key, t_key]  # (B', T')

    def config(self) -> dict[str, Any]:
        return {"key": _text(self.key), "time_major": self.time_major, "name": self.name}


def _time_key(entry: Any, time_major: bool) -> tuple:
    return (entry,) if time_major else (slice(None), entry)


class TakeStep(Index):
    """One timestep ``t``: ``x[:, t]`` on (B, T, F), ``x[t]`` on time-major (T, B, F); -> (B, F).
    Negative ``t`` counts from the end. The mask is dropped."""

    kind = "take_step"

    def __init__(self, t: int, time_major: bool = False, name: str | None = None) -> None:
        if not _is_int(t):
            raise ConfigError(f"TakeStep {name or ''!r}: received an invalid value for `t`, expected an integer "
                              f"(negative counts from the end), got {t!r}")
        self.t = int(t)
        super().__init__(_time_key(self.t, time_major), time_major=time_major, name=name)

    def config(self) -> dict[str, Any]:
        return {"t": self.t, "time_major": self.time_major, "name": self.name}


class LastStep(TakeStep):
    """The last timestep: ``x[:, -1]`` on (B, T, F) (PyTorch's ``out[:, -1, :]``), ``x[-1]`` on
    time-major (T, B, F); -> (B, F). The mask is dropped (as for Keras's return_sequences=False the
    last step is the last one, masked or not)."""

    kind = "last_step"

    def __init__(self, time_major: bool = False, name: str | None = None) -> None:
        super().__init__(-1, time_major=time_major, name=name)

    def config(self) -> dict[str, Any]:
        return {"time_major": self.time_major, "name": self.name}


class Steps(Index):
    """A slice of timesteps ``start:stop`` (Python's slice rules, None for an open end): ``x[:, start:stop]``
    on (B, T, F), ``x[start:stop]`` on time-major (T, B, F). The mask is sliced alike."""

    kind = "steps"

    def __init__(self, start: int | None = None, stop: int | None = None, time_major: bool = False,
                 name: str | None = None) -> None:
        for what, v in (("start", start), ("stop", stop)):
            if v is not None and not _is_int(v):
                raise ConfigError(f"Steps {name or ''!r}: received an invalid value for `{what}`, expected an "
                                  f"integer or None, got {v!r}")
        self.start = None if start is None else int(start)
        self.stop = None if stop is None else int(stop)
        super().__init__(_time_key(slice(self.start, self.stop), time_major), time_major=time_major, name=name)

    def config(self) -> dict[str, Any]:
        return {"start": self.start, "stop": self.stop, "time_major": self.time_major, "name": self.name}


__all__ = ["Index", "TakeStep", "LastStep", "Steps"]
