"""A symbolic array: a shape of dims and a dtype, no values, run through numpy's protocols.

``SymArray`` implements ``__array_ufunc__`` and ``__array_function__``, so the core's
unchanged code (ufuncs with broadcasting and ``out=``, matmul, slicing, reshape,
concatenate, reductions, ``where``, creation with ``like=``, ``take``, ``add.at``) runs on it
and computes shapes instead of numbers. Every mismatch raises :class:`ShapeError` with the
operation, the operands and their shapes; the active trace adds where it happened.

This module is the array type and its protocol dispatch; the shape rules are in
:mod:`~shapeviz.tracing.shapes`, numpy's functions in :mod:`~shapeviz.tracing.functions`, the
result dtypes in :mod:`~shapeviz.tracing.dtypes` and the hot-path shortcuts in
:mod:`~shapeviz.tracing.fastpaths` (all re-exported here: ``from shapeviz.tracing.symarray import
broadcast_shapes`` keeps working).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from shapeviz.tracing import context, counting
from shapeviz.tracing.dims import Dim, DimLike, product, shape_str

_ALL = slice(None)


class SymArray(np.lib.mixins.NDArrayOperatorsMixin):
    """An array with a symbolic shape and a dtype, and no values.

    Args:
        shape: ints and :class:`Dim` s (``(Dim.sym("B"), Dim.sym("T"), 2)``).
        dtype: a numpy dtype.
        name: how errors and records call it (``"x"``, ``"h_{t-1}"``).
    """

    __array_priority__ = 1000
    __slots__ = ("shape", "dtype", "name", "base", "_row", "_cols", "_n0")  # the tracer makes ~10^5 of them

    def __init__(self, shape: Iterable[DimLike], dtype: Any = np.float64, name: str | None = None,
                 base: "SymArray | None" = None) -> None:
        if type(shape) is tuple and all(type(d) is int or (type(d) is Dim and not d.is_const) for d in shape):
            self.shape: Shape = shape  # already normalised (the common case: a shape from another array)
        else:
            self.shape = norm_shape(shape)
        self.dtype = dtype if type(dtype) is np.dtype or isinstance(dtype, np.dtype) else np.dtype(dtype)
        self.name = name
        self.base = base  # the SymArray this one is a view of (for memory accounting)
        self._row = None  # the view x[t] returns, made once: every row of a concrete axis looks alike
        self._cols = None  # the views x[:, a:b] returned, by (a, b, step): a step slices its gates alike
        self._n0 = None  # (the trace's bound sizes, the size of axis 0 with them): see _axis0

    # -- attributes ---------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> Any:
        return norm(product(self.shape))

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> Any:
        return norm(product(self.shape) * self.dtype.itemsize)

    @property
    def T(self) -> "SymArray":
        return self.transpose()

    def __repr__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return f"SymArray({label}{shape_str(self.shape)}, {self.dtype})"

    def _view(self, shape: Iterable[DimLike], dtype: Any = None) -> "SymArray":
        return SymArray(shape, self.dtype if dtype is None else dtype, base=self if self.base is None else self.base)

    @classmethod
    def _made(cls, shape: "Shape", dtype: np.dtype) -> "SymArray":
        """A new array from a shape and dtype already in normal form (the hot path skips checks)."""
        obj = object.__new__(cls)
        obj.shape, obj.dtype, obj.name, obj.base, obj._row, obj._cols = shape, dtype, None, None, None, None
        obj._n0 = None
        return obj

    def _axis0(self) -> int | None:
        """The size of axis 0 when it is a name the trace has bound (T given as ``dims={"T": 1000}``),
        else None. Remembered until the trace binds another name, so that ``x[t]`` over a named
        axis costs what it costs over a literal one."""
        ctx = context.current()
        if ctx is None:
            return None
        values = ctx.values()  # the same dict until the next binding
        cached = self._n0
        if cached is not None and cached[0] is values:
            return cached[1]
        d = self.shape[0].substitute(values)
        n = d.value if d.is_const else None
        self._n0 = (values, n)
        return n

    # -- refusing values ----------------------------------------------------------------
    def _no_values(self, what: str) -> TypeError:
        return TypeError(
            f"{what} of a symbolic array {shape_str(self.shape)}: it has a shape but no values; code run by the "
            "tracer must not branch on array values (put value checks behind an isinstance(x, np.ndarray) test)"
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise self._no_values("converting to a numpy array")

    def __bool__(self) -> bool:
        raise self._no_values("the truth value")

    def __float__(self) -> float:
        raise self._no_values("float()")

    def __int__(self) -> int:
        raise self._no_values("int()")

    def __index__(self) -> int:
        raise self._no_values("using as an index")

    def __iter__(self) -> Any:
        raise self._no_values("iterating over the values")

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d symbolic array")
        first = Dim.of(self.shape[0])
        if not first.is_const:
            raise TypeError(f"len() of a symbolic axis of size {first}")
        return first.value  # type: ignore[return-value]

    def item(self, *args: Any) -> Any:
        raise self._no_values("item()")

    def tolist(self) -> Any:
        raise self._no_values("tolist()")

    # -- methods ------------------------------------------------------------------------
    def reshape(self, *shape: Any, order: str = "C") -> "SymArray":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        total = product(self.shape)
        known = [d for d in shape if not (isinstance(d, int) and d == -1)]
        if len(known) < len(shape) - 1:
            raise fail("reshape can infer only one axis (-1)", "reshape", [self])
        new = list(shape)
        if len(known) < len(shape):
            inferred = total.exact_div(product(known))  # keep the names when the division is exact
            ctx = context.current()
            if inferred is None and ctx is not None:
                inferred = ctx.resolve(total).exact_div(ctx.resolve(product(known)))
            if inferred is None:
                raise fail(f"cannot reshape {shape_str(self.shape)} into {fmt_req(shape)}: {total} elements are not "
                            f"a whole multiple of {product(known)}", "reshape", [self],
                            expected=f"a multiple of {product(known)}", actual=total)
            new[new.index(-1)] = inferred
        if not same(product(new), total, lambda: f"{here()} (reshape)"):
            raise fail(f"cannot reshape {shape_str(self.shape)} ({total} elements) into {shape_str(new)} "
                        f"({product(new)} elements)", "reshape", [self], dim="element count",
                        expected=total, actual=product(new))
        return self._view(new)

    def transpose(self, *axes: Any) -> "SymArray":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(range(self.ndim))[::-1]
        if sorted(norm_axis(a, self.ndim, "transpose", self) for a in axes) != list(range(self.ndim)):
            raise fail(f"transpose axes {axes} do not match an array of rank {self.ndim}", "transpose", [self])
        return self._view(tuple(self.shape[a] for a in axes))

    def astype(self, dtype: Any, copy: bool = True, **_: Any) -> "SymArray":
        return SymArray(self.shape, dtype) if copy or np.dtype(dtype) != self.dtype else self

    def copy(self, order: str = "C") -> "SymArray":
        return SymArray(self.shape, self.dtype)

    def fill(self, value: Any) -> None:
        return None

    def sum(self, axis: Any = None, dtype: Any = None, keepdims: bool = False, **_: Any) -> "SymArray":
        return reduced(self, axis, keepdims, dtype or sum_dtype(self.dtype), "sum")

    def mean(self, axis: Any = None, dtype: Any = None, keepdims: bool = False, **_: Any) -> "SymArray":
        dt = dtype or (self.dtype if self.dtype.kind == "f" else np.float64)
        return reduced(self, axis, keepdims, dt, "mean")

    def max(self, axis: Any = None, keepdims: bool = False, **_: Any) -> "SymArray":
        return reduced(self, axis, keepdims, self.dtype, "max")

    def min(self, axis: Any = None, keepdims: bool = False, **_: Any) -> "SymArray":
        return reduced(self, axis, keepdims, self.dtype, "min")

    def any(self, axis: Any = None, keepdims: bool = False, **_: Any) -> "SymArray":
        return reduced(self, axis, keepdims, np.bool_, "any")

    def all(self, axis: Any = None, keepdims: bool = False, **_: Any) -> "SymArray":
        return reduced(self, axis, keepdims, np.bool_, "all")

    def squeeze(self, axis: Any = None) -> "SymArray":
        return squeezed(self, axis)

    # -- indexing -----------------------------------------------------------------------
    def __getitem__(self, key: Any) -> "SymArray":
        shape = self.shape
        kt = type(key)
        if kt is int and shape and (type(shape[0]) is int and -shape[0] <= key < shape[0] or type(shape[0]) is Dim
                                    and (n := self._axis0()) is not None and -n <= key < n):
            # x[t] within a concrete axis (a literal or a bound name), the time loop's usual index: one view
            # stands for every row
            row = self._row
            if row is None:
                row = self._row = SymArray._made(shape[1:], self.dtype)
                row.base = self if self.base is None else self.base
            return row
        if kt is tuple and len(key) == 2 and type(key[1]) is slice and type(key[0]) is slice and key[0] == _ALL \
                and len(shape) >= 2 and type(shape[1]) is int:
            k = key[1]  # gates[:, :H]: a block of a concrete feature axis
            a, b, c = bounds = (k.start, k.stop, k.step)
            if (a is None or type(a) is int) and (b is None or type(b) is int) and (c is None or type(c) is int):
                cols = self._cols
                if cols is None:
                    cols = self._cols = {}
                view = cols.get(bounds)
                if view is None:
                    view = cols[bounds] = SymArray._made((shape[0], len(range(*k.indices(shape[1]))), *shape[2:]),
                                                         self.dtype)
                    view.base = self if self.base is None else self.base
                return view
        view = SymArray._made(index_shape(self, key), self.dtype)  # index_shape returns a normal shape
        view.base = self if self.base is None else self.base
        return view

    def __setitem__(self, key: Any, value: Any) -> None:
        tv = type(value)
        if tv is float or tv is int:
            if type(key) is int or type(key) is tuple or type(key) is slice or key is Ellipsis:
                index_shape(self, key)  # a scalar fits any part: only the index is checked
                return
        shape = self.shape
        if type(key) is int and shape and (type(shape[0]) is int and -shape[0] <= key < shape[0] or type(shape[0])
                                           is Dim and (n := self._axis0()) is not None and -n <= key < n):
            target = shape[1:]  # buf[t] = state: the time loop's usual write (a literal or a bound name)
        else:
            target = index_shape(self, key)
        vshape = shape_of(value)
        if len(vshape) == len(target) and vshape == target:
            return
        # a view (not one element: x[...] of a 0-d x is a view) drops extra leading axes of 1, as numpy
        view = len(target) > 0 or key is Ellipsis or (type(key) is tuple and any(k is Ellipsis for k in key))
        while len(vshape) > len(target) and view and is_one(vshape[0]):
            vshape = vshape[1:]
        if len(vshape) > len(target):
            raise fail(f"cannot assign {name_of(value)} {shape_str(vshape)} into {shape_str(target)} "
                        f"(a part of {name_of(self)} {shape_str(self.shape)})", "assignment", [self, value],
                        expected=shape_str(target), actual=shape_str(vshape))
        for axis in range(-len(vshape), 0) if vshape else ():
            d = vshape[axis]
            if not is_one(d) and not same(target[axis], d, lambda: f"{here()} (assignment)"):
                raise fail(f"cannot assign {name_of(value)} {shape_str(vshape)} into {shape_str(target)} "
                            f"(a part of {name_of(self)} {shape_str(self.shape)}): axis {axis} is {d}, "
                            f"expected {target[axis]}", "assignment", [self, value], dim=f"axis {axis}",
                            expected=target[axis], actual=d)

    # -- the protocols ------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__" and (not kwargs or (len(kwargs) == 1 and "out" in kwargs)):
            if len(inputs) == 2:
                a, b = inputs
                out = kwargs.get("out")
                fast = matmul_fast(a, b, out) if ufunc is np.matmul else binary_fast(ufunc, a, b, out)
            else:
                fast = None if ufunc is np.matmul else elementwise_fast(ufunc, inputs, kwargs.get("out"))
            if fast is not None:
                return fast
        out = kwargs.pop("out", None)
        kwargs.pop("where", None)
        op = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        if method == "__call__":
            if ufunc is np.matmul and not (shape_of(inputs[0]) and shape_of(inputs[1])):
                matmul_shape(inputs[0], inputs[1])  # raises: a 0-d operand (numpy's dtype probe cannot take it)
            dtype = result_dtype(ufunc, inputs)  # numpy settles dtypes, and the cast into out=, before shapes
            if kwargs.get("dtype") is not None:
                dtype = np.dtype(kwargs["dtype"])
            if out is not None:
                _check_cast(op, dtype, out, kwargs.get("casting", "same_kind"))
            if ufunc is np.matmul:
                shape = matmul_shape(inputs[0], inputs[1])
                counting.matmul_op(shape, shape_of(inputs[0])[-1])  # (..., M, K) @ (..., K, N): K per output
            else:
                shape = broadcast_shapes(op, inputs)
                counting.ufunc_op(ufunc, shape)
        elif method == "reduce":
            a = inputs[0]
            shape = reduce_shape(shape_of(a), kwargs.get("axis", 0), kwargs.get("keepdims", False), op, a)
            dtype = result_dtype(ufunc, (a, a))
            counting.ufunc_op(ufunc, shape_of(a))  # N elements into M: N - M operations
            _uncount(ufunc, shape)
        elif method == "at":
            a, indices = inputs[0], inputs[1]
            target = index_shape(a, indices)
            if len(inputs) > 2:
                broadcast_shapes(op, [SymArray(target, np.float64, name=f"{name_of(a)}[indices]"), inputs[2]])
                counting.ufunc_op(ufunc, target)  # one operation per element added in
                ctx = context.current()
                if ctx is not None and ctx.on_grad is not None and isinstance(a, np.ndarray):
                    ctx.on_grad(name_of(a), a, SymArray(shape_of(a), dtype_of(a)))  # rows land in the table
            return None
        else:
            raise TypeError(f"the tracer does not support {op}")
        if out is None:
            if isinstance(dtype, list):
                return tuple(SymArray(shape, d) for d in dtype)
            return SymArray(shape, dtype)
        outs = out if isinstance(out, tuple) else (out,)
        # an out= may be larger than the result along broadcast (loop) axes, never along matmul's core axes
        core = 2 - (len(shape_of(inputs[0])) == 1) - (len(shape_of(inputs[1])) == 1) if ufunc is np.matmul else 0
        for o in outs:
            oshape = shape_of(o)
            while core and len(shape) > len(oshape) and is_one(shape[0]):
                shape = shape[1:]  # numpy pads a gufunc's shorter out= with axes of 1: (1, 2) @ (2, 3) into (3,)
            if len(shape) > len(oshape) or not all(
                    (i >= core and is_one(r)) or same(r, d, lambda: f"{here()} ({op} out=)")
                    for i, (r, d) in enumerate(zip(shape[::-1], oshape[::-1]))):
                raise fail(f"{op} writes a result of shape {shape_str(shape)} into {name_of(o)} "
                            f"{shape_str(oshape)}", op, list(inputs) + [o], expected=shape_str(oshape),
                            actual=shape_str(shape))
            ctx = context.current()
            if isinstance(o, np.ndarray) and ctx is not None and ctx.on_grad is not None:
                # a write into part of a gradient (GRU's bias rows) was checked against that part
                whole = o.base if isinstance(o.base, np.ndarray) else o  # a dry parameter's base is a bytearray
                ctx.on_grad(name_of(o), whole, SymArray(shape if whole is o else whole.shape, np.float64))
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any) -> Any:
        impl = HANDLED.get(func)
        if impl is None:
            raise TypeError(
                f"the tracer does not support np.{func.__name__} yet: the core may use only the numpy "
                "functions symbolic arrays implement (see shapeviz.tracing.symarray.HANDLED)"
            )
        return impl(*args, **kwargs)


def _uncount(ufunc: np.ufunc, shape: tuple) -> None:
    """Takes back one operation per element of ``shape`` (a reduction's outputs: N - M, not N)."""
    counter = counting.active()
    if counter is not None:
        counter.add(ufunc, shape, n=-1)


def _check_cast(op: str, dtype: Any, out: Any, casting: str) -> None:
    """numpy's refusal to write a result into an ``out=`` it cannot be cast to (``ints += 0.5``)."""
    for dt, o in zip(dtype if isinstance(dtype, list) else [dtype], out if isinstance(out, tuple) else (out,)):
        if o is not None and not np.can_cast(dt, dtype_of(o), casting):
            raise TypeError(f"{op} cannot write its {dt} result into {name_of(o)} of dtype {dtype_of(o)} "
                            f"(casting rule {casting!r})")


# The shape rules, numpy's functions and the fast paths make SymArrays, so they import this module:
# they are bound here, once SymArray exists (shapeviz.tracing imports this module before them).
from shapeviz.tracing.dtypes import result_dtype  # noqa: E402
from shapeviz.tracing.fastpaths import (binary_fast, elementwise_fast, matmul_fast,  # noqa: E402
                                        operator_method)
from shapeviz.tracing.functions import HANDLED  # noqa: E402
from shapeviz.tracing.shapes import (Shape, broadcast_shapes, dtype_of, fail, fmt_req, here,  # noqa: E402
                                     index_shape, is_one, matmul_shape, name_of, norm, norm_axis, norm_shape,
                                     reduce_shape, reduced, same, shape_of, squeezed, sum_dtype)

for _name, _ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide)):
    setattr(SymArray, f"__{_name}__", operator_method(_ufunc))
    setattr(SymArray, f"__r{_name}__", operator_method(_ufunc, reflected=True))
    setattr(SymArray, f"__i{_name}__", operator_method(_ufunc, inplace=True))

__all__ = ["SymArray", "HANDLED", "Shape", "norm", "norm_shape", "shape_of", "dtype_of", "name_of", "same",
           "is_one", "broadcast_shapes", "matmul_shape", "reduce_shape", "index_shape"]
