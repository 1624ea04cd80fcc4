"""numpy's functions on symbolic arrays (``np.zeros``, ``np.concatenate``, ``np.sum``, ``np.take``...):
the table :data:`HANDLED` that :meth:`SymArray.__array_function__` dispatches through.

Each implementation returns a :class:`SymArray` of the shape and dtype numpy would give, using the
shape rules of :mod:`shapeviz.tracing.shapes`; a function missing here is refused by name.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from shapeviz.tracing import counting
from shapeviz.tracing.dims import Dim, shape_str
from shapeviz.tracing.dtypes import DTYPES, probe
from shapeviz.tracing.shapes import (Shape, along_axis_shape, broadcast_shapes, dtype_of, fail, here, is_one,
                                     matmul_shape, name_of, norm_axis, norm_shape, reduced, same, shape_of,
                                     slice_length, squeezed, sum_dtype)
from shapeviz.tracing.symarray import SymArray

HANDLED: dict[Callable, Callable] = {}


def implements(*funcs: Callable) -> Callable:
    def deco(impl: Callable) -> Callable:
        for f in funcs:
            HANDLED[f] = impl
        return impl
    return deco


def _creation(default_dtype: Any) -> Callable:
    def create(shape: Any, dtype: Any = None, order: str = "C", **_: Any) -> SymArray:
        return SymArray(norm_shape(shape), default_dtype if dtype is None else dtype)
    return create


HANDLED[np.zeros] = _creation(np.float64)
HANDLED[np.empty] = _creation(np.float64)
HANDLED[np.ones] = _creation(np.float64)


@implements(np.full)
def _full(shape: Any, fill_value: Any, dtype: Any = None, **_: Any) -> SymArray:
    return SymArray(norm_shape(shape), np.result_type(fill_value) if dtype is None else dtype)


@implements(np.zeros_like, np.empty_like, np.ones_like)
def _like(a: Any, dtype: Any = None, shape: Any = None, **_: Any) -> SymArray:
    return SymArray(shape_of(a) if shape is None else norm_shape(shape), dtype_of(a) if dtype is None else dtype)


@implements(np.full_like)
def _full_like(a: Any, fill_value: Any, dtype: Any = None, shape: Any = None, **_: Any) -> SymArray:
    return _like(a, dtype, shape)


@implements(np.shape)
def _shape(a: Any) -> Shape:
    return shape_of(a)


@implements(np.ndim)
def _ndim(a: Any) -> int:
    return len(shape_of(a))


@implements(np.reshape)
def _reshape(a: Any, shape: Any = None, order: str = "C", **kwargs: Any) -> SymArray:
    shape = kwargs.get("newshape", shape)
    return as_sym(a).reshape(shape)


@implements(np.transpose)
def _transpose(a: Any, axes: Any = None) -> SymArray:
    return as_sym(a).transpose(*(axes or ()))


@implements(np.ascontiguousarray, np.asanyarray)
def _contiguous(a: Any, dtype: Any = None, **_: Any) -> Any:
    return a if dtype is None else as_sym(a).astype(dtype)


@implements(np.copy)
def _copy(a: Any, **_: Any) -> SymArray:
    return SymArray(shape_of(a), dtype_of(a))


@implements(np.squeeze)
def _np_squeeze(a: Any, axis: Any = None) -> SymArray:
    return squeezed(a, axis)


@implements(np.expand_dims)
def _expand_dims(a: Any, axis: Any) -> SymArray:
    shape = list(shape_of(a))
    axes = axis if isinstance(axis, tuple) else (axis,)
    nd = len(shape) + len(axes)
    positions = sorted({norm_axis(a_, nd, "expand_dims", a) for a_ in axes})
    if len(positions) < len(axes):
        raise fail(f"expand_dims: axis {axis} repeats an axis", "expand_dims", [a])
    for ax in positions:
        shape.insert(ax, 1)
    return SymArray(shape, dtype_of(a))


@implements(np.broadcast_to)
def _broadcast_to(a: Any, shape: Any, **_: Any) -> SymArray:
    target = SymArray(norm_shape(shape), dtype_of(a))
    full = broadcast_shapes("broadcast_to", [a, target])
    if len(full) != len(target.shape) or not all(same(x, y, "broadcast_to") for x, y in zip(full, target.shape)):
        raise fail(f"cannot broadcast {shape_str(shape_of(a))} to {shape_str(target.shape)}", "broadcast_to", [a])
    return target


def as_sym(a: Any) -> SymArray:
    return a if isinstance(a, SymArray) else SymArray(np.shape(a), np.asarray(a).dtype)


@implements(np.where)
def _where(cond: Any, x: Any = None, y: Any = None) -> SymArray:
    if x is None or y is None:
        raise fail("np.where(cond) returns value-dependent indices; the tracer cannot follow it", "where", [cond])
    shape = broadcast_shapes("where", (cond, x, y))
    dx, dy = dtype_of(x), dtype_of(y)
    key = (np.where, dx if isinstance(dx, np.dtype) else type(x), dy if isinstance(dy, np.dtype) else type(y))
    dtype = DTYPES.get(key)
    if dtype is None:
        dtype = DTYPES[key] = np.result_type(probe(x), probe(y))
    return SymArray._made(shape, dtype)



@implements(np.concatenate)
def _concatenate(arrays: Sequence[Any], axis: int = 0, out: Any = None, dtype: Any = None, **_: Any) -> SymArray:
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    first = shape_of(arrays[0])
    ax = norm_axis(axis, len(first), "concatenate", arrays[0])
    total: Any = 0
    for a in arrays:
        s = shape_of(a)
        if len(s) != len(first):
            raise fail(f"concatenate along axis {axis}: {name_of(a)} {shape_str(s)} has rank {len(s)}, the first "
                        f"array {shape_str(first)} rank {len(first)}", "concatenate", arrays)
        for i, (d0, d) in enumerate(zip(first, s)):
            if i != ax and not same(d0, d, lambda: f"{here()} (concatenate)"):
                raise fail(f"concatenate along axis {axis}: axis {i} is {d0} in the first array and {d} in "
                            f"{name_of(a)}", "concatenate", arrays, dim=f"axis {i}", expected=d0, actual=d)
        total = Dim.of(total) + s[ax]
    shape = list(first)
    shape[ax] = total
    dt = dtype or np.result_type(*[probe(a) for a in arrays])
    return SymArray(shape, dt)


@implements(np.stack)
def _stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, **_: Any) -> SymArray:
    arrays = list(arrays)
    first = shape_of(arrays[0])
    for a in arrays[1:]:
        s = shape_of(a)
        if len(s) != len(first) or not all(same(x, y, lambda: f"{here()} (stack)") for x, y in zip(first, s)):
            raise fail(f"stack needs arrays of one shape, got {shape_str(first)} and {shape_str(s)}", "stack",
                        arrays)
    nd = len(first) + 1
    ax = norm_axis(axis, nd, "stack", arrays[0])
    shape = list(first)
    shape.insert(ax, len(arrays))
    return SymArray(shape, np.result_type(*[probe(a) for a in arrays]))


@implements(np.split)
def _split(a: Any, indices_or_sections: Any, axis: int = 0) -> list[SymArray]:
    shape = list(shape_of(a))
    ax = norm_axis(axis, len(shape), "split", a)
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        part = Dim.of(shape[ax]).exact_div(n)
        if part is None:  # B = 4 bound in the trace splits in 2 even though the name B does not
            part = Dim.of(shape[ax]).resolved().exact_div(n)
        if part is None:
            raise fail(f"cannot split axis {ax} of size {shape[ax]} into {n} equal parts", "split", [a])
        shape[ax] = part
        return [SymArray(shape, dtype_of(a)) for _ in range(n)]
    bounds = [None, *indices_or_sections, None]
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # numpy's a[lo:hi]: clamped, empty when hi <= lo
        s = list(shape)
        s[ax] = slice_length(shape[ax], slice(lo, hi), "split", a)
        parts.append(SymArray(s, dtype_of(a)))
    return parts


def _reducer(dtype_rule: Callable[[Any], Any], name: str) -> Callable:
    def reduce(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
               **_: Any) -> SymArray:
        res = reduced(a, axis, keepdims, dtype or dtype_rule(dtype_of(a)), name)
        return res
    return reduce


HANDLED[np.sum] = _reducer(lambda dt: sum_dtype(np.dtype(dt)), "sum")
HANDLED[np.mean] = _reducer(lambda dt: np.dtype(dt) if np.dtype(dt).kind == "f" else np.dtype(np.float64), "mean")
HANDLED[np.max] = _reducer(lambda dt: dt, "max")
HANDLED[np.amax] = HANDLED[np.max]
HANDLED[np.min] = _reducer(lambda dt: dt, "min")
HANDLED[np.amin] = HANDLED[np.min]
HANDLED[np.any] = _reducer(lambda dt: np.bool_, "any")
HANDLED[np.all] = _reducer(lambda dt: np.bool_, "all")
HANDLED[np.count_nonzero] = _reducer(lambda dt: np.int64, "count_nonzero")


@implements(np.argmax, np.argmin)
def _argmax(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **_: Any) -> SymArray:
    return reduced(a, axis, keepdims, np.int64, "argmax")


@implements(np.clip)
def _clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kwargs: Any) -> Any:
    shape = broadcast_shapes("clip", [x for x in (a, a_min, a_max) if x is not None])
    res = SymArray(shape, dtype_of(a))
    counting.elementwise_op(shape, n=(a_min is not None) + (a_max is not None))  # a maximum and a minimum
    return res if out is None else out


@implements(np.take)
def _take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
    if axis is None:
        shape = shape_of(indices)
    else:
        ashape = shape_of(a)
        ax = norm_axis(axis, len(ashape), "take", a)
        shape = norm_shape(ashape[:ax] + shape_of(indices) + ashape[ax + 1:])
    if dtype_of(indices) is not None and isinstance(dtype_of(indices), np.dtype) and dtype_of(indices).kind not in "iu":
        raise fail(f"take needs integer indices, got {name_of(indices)} of dtype {dtype_of(indices)}", "take",
                    [a, indices], expected="integer ids", actual=str(dtype_of(indices)))
    res = SymArray(shape, dtype_of(a))
    if out is not None:
        oshape = shape_of(out)
        if len(oshape) != len(shape) or not all(same(x, y, lambda: f"{here()} (take out=)") for x, y in zip(shape, oshape)):
            raise fail(f"take writes {shape_str(shape)} into {shape_str(oshape)}", "take", [a, indices, out])
        return out
    return res


@implements(np.copyto)
def _copyto(dst: Any, src: Any, casting: str = "same_kind", where: Any = True) -> None:
    operands = [dst, src] + ([where] if where is not True else [])
    full = broadcast_shapes("copyto", operands)
    dshape = shape_of(dst)
    extra, full = full[:len(full) - len(dshape)], full[len(full) - len(dshape):]  # leading axes of 1 may go
    if not all(is_one(d) for d in extra) or not all(same(x, y, "copyto") for x, y in zip(full, dshape)):
        raise fail(f"copyto cannot write {shape_str(shape_of(src))} into {shape_str(shape_of(dst))}", "copyto",
                    operands)


@implements(np.result_type)
def _result_type(*arrays_and_dtypes: Any) -> Any:
    return np.result_type(*[probe(a) if isinstance(a, SymArray) else a for a in arrays_and_dtypes])


@implements(np.isfinite, np.isnan)
def _isfinite(a: Any, *args: Any, **kwargs: Any) -> SymArray:  # pragma: no cover - ufuncs reach __array_ufunc__
    return SymArray(shape_of(a), np.bool_)


@implements(np.dot)
def _dot(a: Any, b: Any, out: Any = None) -> Any:
    sa, sb = shape_of(a), shape_of(b)
    dtype = np.result_type(probe(a), probe(b))
    if not sa or not sb:  # a scalar: a product
        counting.elementwise_op(sb if not sa else sa)
        return SymArray(sb if not sa else sa, dtype)
    if len(sa) <= 2 and len(sb) <= 2:
        shape = matmul_shape(a, b, "dot")
        counting.matmul_op(shape, sa[-1])
        return SymArray(shape, dtype)
    k = sb[-1] if len(sb) == 1 else sb[-2]  # dot sums a's last axis with b's second-to-last
    if not same(sa[-1], k, lambda: f"{here()} (dot)"):
        raise fail(f"dot of {name_of(a)} {shape_str(sa)} and {name_of(b)} {shape_str(sb)}: the summed sizes differ, "
                    f"{sa[-1]} and {k}", "dot", [a, b], dim="summed axis", expected=sa[-1], actual=k)
    shape = sa[:-1] + (sb[:-2] + sb[-1:] if len(sb) > 1 else ())
    counting.matmul_op(shape, sa[-1])
    return SymArray(shape, dtype)


@implements(np.linalg.norm)
def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> SymArray:
    return reduced(x, axis, keepdims, dtype_of(x) if np.dtype(dtype_of(x)).kind == "f" else np.float64, "norm")




@implements(np.take_along_axis)
def _take_along_axis(arr: Any, indices: Any, axis: int = -1) -> SymArray:
    return SymArray(along_axis_shape(arr, indices, axis, "take_along_axis"), dtype_of(arr))


@implements(np.put_along_axis)
def _put_along_axis(arr: Any, indices: Any, values: Any, axis: int) -> None:
    target = along_axis_shape(arr, indices, axis, "put_along_axis")
    broadcast_shapes("put_along_axis", [SymArray(target, np.float64, name="the indexed positions"), values])
