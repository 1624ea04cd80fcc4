"""The shape rules of numpy's operations on symbolic shapes: broadcasting, matmul, reductions, slicing and indexing.

Every function reads the operands' shapes (ints and :class:`Dim` s), binds a free name that meets a
size inside a trace (:func:`same`), and raises :class:`ShapeError` naming the operation, the
operands and the clashing axis where numpy would raise. :mod:`shapeviz.tracing.symarray` calls
these from the array's protocols; :mod:`shapeviz.tracing.functions` from numpy's functions.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from shapeviz.errors import ShapeError
from shapeviz.tracing import context, counting
from shapeviz.tracing.dims import Dim, DimLike, shape_str
from shapeviz.tracing.symarray import SymArray

Shape = tuple  # of int | Dim


# -- operands ------------------------------------------------------------------------------
def norm(d: DimLike) -> int | Dim:
    """A dim as users see it: a plain int when constant, else the Dim."""
    dim = Dim.of(d)
    return dim.value if dim.is_const else dim  # type: ignore[return-value]


def norm_shape(shape: Iterable[DimLike]) -> Shape:
    if isinstance(shape, (int, np.integer, Dim)):
        shape = (shape,)
    return tuple(norm(d) for d in shape)


def shape_of(x: Any) -> Shape:
    t = type(x)
    if t is SymArray or t is np.ndarray:
        return x.shape
    if t is float or t is int or t is bool:
        return ()
    if isinstance(x, SymArray):
        return x.shape
    return tuple(np.shape(x))


def dtype_of(x: Any) -> Any:
    if isinstance(x, (SymArray, np.ndarray, np.generic)):
        return x.dtype
    if isinstance(x, Dim):
        return 1  # a size is an int: a weak Python scalar in promotion
    return x  # a Python scalar: numpy's weak-scalar promotion applies (NEP 50)


def name_of(x: Any) -> str:
    if isinstance(x, SymArray):
        return x.name or "an intermediate"
    ctx = context.current()
    if isinstance(x, np.ndarray) and ctx is not None:
        base = x if x.base is None else x.base
        for arr in (x, base):
            if id(arr) in ctx.param_names:
                return ctx.param_names[id(arr)]
    if isinstance(x, np.ndarray):
        return "an array"
    return repr(x)


def fail(message: str, op: str, operands: Sequence[Any], dim: str | None = None, expected: Any = None,
          actual: Any = None, hint: str | None = None) -> ShapeError:
    ctx = context.current()
    shapes = [shape_of(o) for o in operands]
    involved: list[Any] = [d for s in shapes for d in s]
    return ShapeError(
        message,
        layer=ctx.layer_path if ctx else None,
        timestep=ctx.timestep if ctx else None,
        phase=ctx.phase if ctx else None,
        op=op,
        operands=[(name_of(o), shape_str(s)) for o, s in zip(operands, shapes)],
        dim=dim,
        expected=None if expected is None else str(expected),
        actual=None if actual is None else str(actual),
        provenance=ctx.provenance(*involved) if ctx else {},
        hint=hint,
    )


def same(a: DimLike, b: DimLike, where: Any) -> bool:
    """Whether two sizes agree (binding a free name that meets a number, inside a trace).
    ``where`` (a string, or a callable making one) says where, for a binding's provenance."""
    if a is b or (type(a) is int and type(b) is int):
        return a == b
    ctx = context.current()
    if ctx is not None:
        return ctx.unify(a, b, where)
    return Dim.of(a) == Dim.of(b)


def is_one(d: DimLike) -> bool:
    if type(d) is int:
        return d == 1
    return Dim.of(d) == 1


# -- broadcasting and matmul ----------------------------------------------------------------
def broadcast_shapes(op: str, operands: Sequence[Any]) -> Shape:
    """numpy's broadcasting over the operands' shapes; a ShapeError names the clash."""
    shapes = [shape_of(o) for o in operands]
    nonscalar = [s for s in shapes if s]
    if not nonscalar:
        return ()
    if all(alike(s, nonscalar[0]) for s in nonscalar[1:]) and all(type(d) is int or isinstance(d, Dim)
                                                                    for d in nonscalar[0]):
        return tuple(nonscalar[0])  # the usual case: equal shapes (and scalars) broadcast to themselves
    fast = _broadcast_fast(nonscalar)
    if fast is not None:
        return fast
    ndim = max((len(s) for s in shapes), default=0)
    out: list[Any] = []
    for axis in range(-ndim, 0):
        size: Any = 1
        owner = None
        named_one = None  # a name bound to 1 (B with B=1) keeps its name where only 1s meet
        for o, s in zip(operands, shapes):
            if len(s) < -axis:
                continue
            d = s[axis]
            if is_one(d):
                if named_one is None and type(d) is Dim:
                    named_one = d
                continue
            if is_one(size):
                size, owner = d, o
            elif not same(size, d, lambda: f"{here()} ({op}, axis {axis})"):
                raise fail(
                    f"cannot broadcast {name_of(owner)} {shape_str(shape_of(owner))} with {name_of(o)} "
                    f"{shape_str(s)}: axis {axis} is {size} in one and {d} in the other",
                    op, operands, dim=f"axis {axis}", expected=size, actual=d)
        out.append(named_one if named_one is not None and is_one(size) else size)
    return norm_shape(out)


def alike(sa: Shape, sb: Shape) -> bool:
    """Whether two shapes are the same axis by axis without consulting the trace: equal ints, or dims
    equal as polynomials. Not ``(1, 16)`` and ``(B, 16)`` with B = 1, equal only through the trace:
    the general path decides those (broadcasting keeps the name B there)."""
    if sa is sb:
        return True
    if len(sa) != len(sb):
        return False
    for x, y in zip(sa, sb):
        if x is not y and not (type(x) is int and type(y) is int and x == y) \
                and not (type(x) is Dim and type(y) is Dim and x.identical(y)):
            return False
    return True


def _broadcast_fast(shapes: Sequence[Shape]) -> Shape | None:
    """Broadcasting decided without consulting the trace: along each axis one size (the same dim,
    or equal ints) apart from literal 1s, as a ``(B, 1)`` mask meets ``(B, H)`` states. None when
    sizes differ or a dim meets a number (``B`` against ``64``): the general path decides those,
    binding names and naming clashes."""
    out = []
    for axis in range(-max(len(s) for s in shapes), 0):
        size: Any = 1
        for s in shapes:
            if len(s) < -axis:
                continue
            d = s[axis]
            if type(d) is int:
                if d == 1:
                    continue
                if type(size) is not int or (size != 1 and size != d):
                    return None
                size = d
            elif type(size) is int:
                if size != 1:
                    return None
                size = d
            elif not d.identical(size):  # two dims, equal as polynomials or left to the general path
                return None
        out.append(size)
    return tuple(out)


def here() -> str:
    """Where the active trace is (layer, step, phase), for a binding's provenance."""
    ctx = context.current()
    return ctx.here() if ctx else "an operation"


def matmul_shape(a: Any, b: Any, op: str = "matmul") -> Shape:
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        raise fail("matmul needs arrays of rank 1 or more", op, [a, b])
    va = sa if len(sa) > 1 else (1,) + sa
    vb = sb if len(sb) > 1 else sb + (1,)
    k1, k2 = va[-1], vb[-2]
    if not same(k1, k2, lambda: f"{here()} ({op} inner axis)"):
        raise fail(
            f"matmul of {name_of(a)} {shape_str(sa)} @ {name_of(b)} {shape_str(sb)}: the inner sizes differ, "
            f"{k1} (last axis of the left) and {k2} (first axis of the right)",
            op, [a, b], dim="inner axis", expected=k1, actual=k2)
    batch = broadcast_shapes(op, [SymArray(va[:-2], np.float64), SymArray(vb[:-2], np.float64)])
    out = batch + (va[-2], vb[-1])
    if len(sa) == 1:
        out = out[:-2] + out[-1:]
    if len(sb) == 1:
        out = out[:-1]
    return norm_shape(out)



# -- axes, reductions, slicing and indexing -------------------------------------------------
def norm_axis(axis: int, ndim: int, op: str, a: Any) -> int:
    """``axis`` as a non-negative index into ``ndim`` axes; a ShapeError when it is out of bounds."""
    if not -ndim <= axis < ndim:
        raise fail(f"axis {axis} is out of bounds for an array of rank {ndim}", op, [a])
    return axis % ndim


def reduce_shape(shape: Shape, axis: Any, keepdims: bool, op: str, a: Any) -> Shape:
    ndim = len(shape)
    if axis is None:
        axes = set(range(ndim))
    else:
        given = axis if isinstance(axis, tuple) else (axis,)
        axes = {norm_axis(ax, ndim, op, a) for ax in given}
        if len(axes) < len(given):
            raise fail(f"{op} over axes {axis}: an axis is given twice", op, [a])
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def slice_length(n: DimLike, s: slice, op: str, a: Any) -> Any:
    """The length of ``s`` applied to an axis of size ``n`` (numpy's clamping where decidable)."""
    dim = Dim.of(n)
    if dim.is_const:
        return len(range(*s.indices(dim.value)))  # type: ignore[arg-type]
    try:  # a size the trace has bound: numpy's length, kept as an expression of the names when it agrees
        ints = slice(*(None if v is None else int(Dim.of(v)) for v in (s.start, s.stop, s.step)))
        exact: int | None = len(range(*ints.indices(int(dim))))
    except TypeError:  # names without sizes
        exact = None
    try:
        named = _symbolic_slice_length(dim, s, op, a)
    except ShapeError:
        if exact is None:
            raise
        return exact
    return named if exact is None or Dim.of(named) == exact else exact


def _symbolic_slice_length(dim: Dim, s: slice, op: str, a: Any) -> Any:
    """The length of ``s`` on an axis of symbolic size ``dim``, assuming the bounds lie inside it."""
    step = 1 if s.step is None else s.step
    if step not in (1, -1):
        raise fail(f"slicing a symbolic axis of size {dim} with step {step} is not supported", op, [a])

    def bound(v: Any, default: Any) -> Dim:
        if v is None:
            return Dim.of(default)
        v = Dim.of(v)
        return dim + v if (v.is_const and v.value < 0) else v  # type: ignore[operator]

    if step == 1:
        start, stop = bound(s.start, 0), bound(s.stop, dim)
        return norm(stop - start)
    if s.start is None and s.stop is None:
        return norm(dim)
    raise fail(f"slicing a symbolic axis of size {dim} backwards with bounds is not supported", op, [a])


def fmt_req(shape: Sequence[Any]) -> str:
    """A requested shape as written (``(B, -1)``), for reshape's errors."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def sum_dtype(dt: np.dtype) -> np.dtype:
    """The dtype numpy's sum gives: int64 for bools and ints, else the operand's."""
    if dt.kind in "biu":
        return np.dtype(np.int64)
    return dt


def reduced(a: Any, axis: Any, keepdims: bool, dtype: Any, op: str) -> SymArray:
    """The result of a reduction ``op`` of ``a`` over ``axis``."""
    shape = reduce_shape(shape_of(a), axis, keepdims, op, a)
    counting.reduce_op(op, shape_of(a), shape)
    return SymArray(shape, dtype)


def squeezed(a: Any, axis: Any) -> SymArray:
    """``np.squeeze(a, axis)``: a ShapeError for an axis that is not 1."""
    shape = shape_of(a)
    if axis is None:
        return SymArray(tuple(d for d in shape if not is_one(d)), dtype_of(a))
    axes = {norm_axis(ax, len(shape), "squeeze", a) for ax in (axis if isinstance(axis, tuple) else (axis,))}
    for ax in axes:
        if not is_one(shape[ax]):
            raise fail(f"cannot squeeze axis {ax} of size {shape[ax]}", "squeeze", [a])
    return SymArray(tuple(d for i, d in enumerate(shape) if i not in axes), dtype_of(a))


def _out_of_bounds(k: DimLike, n: DimLike) -> bool:
    """Whether the index ``k`` falls outside an axis of size ``n``, as far as the sizes the trace has
    bound or the names alone tell (``T`` on an axis of ``T`` does for every T; ``T-1`` does not)."""
    kd, nd = Dim.of(k).resolved(), Dim.of(n).resolved()
    if kd.is_const and nd.is_const:
        return not -nd.value <= kd.value < nd.value  # type: ignore[operator]
    above, below = nd - kd, kd + nd  # k < n and k >= -n
    return (above.is_const and above.value <= 0) or (below.is_const and below.value < 0)  # type: ignore[operator]


def index_shape(a: Any, key: Any) -> Shape:
    """The shape of ``a[key]`` for ints, dims, slices, None, Ellipsis and one integer index array."""
    shape = shape_of(a)
    kt = type(key)
    if (kt is int or kt is Dim) and shape:  # x[t]: the time loop's usual index
        n = shape[0]
        if (not -n <= key < n) if kt is int and type(n) is int else _out_of_bounds(key, n):
            raise fail(f"index {key} is out of bounds for axis 0 of size {shape[0]}", "indexing", [a])
        return shape[1:]
    if kt is tuple and len(key) == 2 and type(key[0]) is slice and key[0] == slice(None) and type(key[1]) is slice \
            and len(shape) >= 2 \
            and type(shape[1]) is int:  # gates[:, :H]: a block of a concrete feature axis
        return (shape[0], len(range(*key[1].indices(shape[1]))), *shape[2:])
    keys = key if isinstance(key, tuple) else (key,)
    n_real = sum(1 for k in keys if k is not None and k is not Ellipsis)
    if n_real > len(shape):
        raise fail(f"too many indices ({n_real}) for {name_of(a)} {shape_str(shape)} of rank {len(shape)}",
                    "indexing", [a])
    if any(k is Ellipsis for k in keys):
        i = next(i for i, k in enumerate(keys) if k is Ellipsis)
        keys = keys[:i] + (slice(None),) * (len(shape) - n_real) + keys[i + 1:]
    out: list[Any] = []
    axis = 0
    advanced: list[tuple[int, Shape]] = []
    for k in keys:
        if k is None:
            out.append(1)
            continue
        if axis >= len(shape):
            raise fail(f"too many indices for {name_of(a)} {shape_str(shape)}", "indexing", [a])
        if isinstance(k, slice):
            out.append(slice_length(shape[axis], k, "indexing", a))
        elif isinstance(k, (int, np.integer, Dim)):
            if _out_of_bounds(k, shape[axis]):
                raise fail(f"index {k} is out of bounds for axis {axis} of size {shape[axis]}", "indexing", [a])
        elif isinstance(k, (SymArray, np.ndarray, list)):
            ishape = shape_of(k) if not isinstance(k, list) else (len(k),)
            if np.dtype(dtype_of(k) if not isinstance(k, list) else np.asarray(k).dtype) == np.bool_:
                raise fail("boolean-mask indexing has a value-dependent size; the tracer cannot follow it",
                            "indexing", [a])
            advanced.append((len(out), ishape))
            out.append(None)  # placeholder
        else:
            raise fail(f"unsupported index {k!r}", "indexing", [a])
        axis += 1
    out.extend(shape[axis:])
    if advanced:
        if len(advanced) > 1:
            raise fail("the tracer supports one integer index array per indexing", "indexing", [a])
        pos, ishape = advanced[0]
        out = out[:pos] + list(ishape) + out[pos + 1:]
    return norm_shape(out)



def along_axis_shape(arr: Any, indices: Any, axis: int, op: str) -> Shape:
    ashape, ishape = shape_of(arr), shape_of(indices)
    if len(ashape) != len(ishape):
        raise fail(f"{op}: the indices {shape_str(ishape)} must have the rank of the array {shape_str(ashape)}", op,
                    [arr, indices])
    ax = norm_axis(axis, len(ashape), op, arr)
    out = []
    for i, (a, b) in enumerate(zip(ashape, ishape)):
        if i == ax:
            out.append(b)
        elif is_one(b):
            out.append(a)
        elif is_one(a) or same(a, b, lambda: f"{here()} ({op})"):
            out.append(b)
        else:
            raise fail(f"{op}: axis {i} is {a} in the array and {b} in the indices", op, [arr, indices],
                        dim=f"axis {i}", expected=a, actual=b)
    return norm_shape(out)

