"""Fast paths: the tracer's hot calls answered without numpy's dispatch and the general shape rules.

A trace of T = 1000 steps makes ~10^5 ufunc calls, nearly all of a few kinds: an elementwise op on
operands of one shape (``a += b``, ``np.tanh(z, out=z)``), an array and a Python scalar
(``1.0 - a``), a trailing block (a ``(4H,)`` bias on ``(B, 4H)``), and a step's 2-D ``h @ U``.
Each function here answers exactly those from the shapes and the cached dtypes
(:data:`shapeviz.tracing.dtypes.DTYPES`), and returns None for anything else, which then goes the
long way (:meth:`SymArray.__array_ufunc__` and :mod:`shapeviz.tracing.shapes`) that binds names,
casts into ``out=`` and names clashes. A fast path never decides what needs the trace: shapes
equal only through a binding (``(1, 16)`` and ``(B, 16)`` with B = 1) go the long way, so that a
name keeps its place (see benchmarks/README.md for what each path saves).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from shapeviz.tracing import context
from shapeviz.tracing.counting import MAC
from shapeviz.tracing.dtypes import DTYPES
from shapeviz.tracing.shapes import alike
from shapeviz.tracing.symarray import SymArray

def binary_fast(ufunc: np.ufunc, a: Any, b: Any, out: Any) -> Any:
    """``ufunc(a, b[, out=out])`` for the shapes the time loop's arithmetic meets: two arrays of one
    shape, an array and a Python scalar, or an array and a trailing block of its shape (a
    ``(4H,)`` bias on ``(B, 4H)``); None sends the call the long way (which also binds names)."""
    ta, tb = type(a), type(b)  # each operand's shape and dtype key, written out twice: a helper call costs more
    if ta is SymArray or ta is np.ndarray:
        sa, ka = a.shape, a.dtype
    elif ta is float or ta is int:
        sa, ka = (), ta
    else:
        return None
    if tb is SymArray or tb is np.ndarray:
        sb, kb = b.shape, b.dtype
    elif tb is float or tb is int:
        sb, kb = (), tb
    else:
        return None
    na, nb = len(sa), len(sb)
    # the same sizes by the same names, never through the trace (B = 1 meeting a 1 keeps its name)
    if na == nb:
        if sa is not sb and not (na == 2 and sa[0] is sb[0] and sa[1] is sb[1]) and not alike(sa, sb):
            return None
        shape = sa
    elif not nb:
        shape = sa
    elif not na:
        shape = sb
    elif na > nb and alike(sa[na - nb:], sb):
        shape = sa
    elif nb > na and alike(sb[nb - na:], sa):
        shape = sb
    else:
        return None
    dtype = DTYPES.get((ufunc, ka, kb))
    if dtype is None or type(dtype) is list:
        return None
    if out is None:
        _count(ufunc, shape)
        return SymArray._made(shape, dtype)
    o = out[0] if type(out) is tuple and len(out) == 1 else out
    if type(o) is SymArray and o.dtype is dtype and o.shape == shape:  # another dtype: the general path casts
        _count(ufunc, shape)
        return o
    return None


def _count(ufunc: np.ufunc, shape: tuple) -> None:
    """:meth:`shapeviz.tracing.counting.Counter.add`, inlined: the fast paths are the hot calls."""
    stack = context._active
    if stack:
        counter = stack[-1].counter
        if counter is not None:
            bucket = counter.current
            if bucket is None:
                bucket = counter.bucket()
            ident = id(shape)
            counter.alive[ident] = shape
            key = (ufunc, ident, 1)
            bucket[key] = bucket.get(key, 0) + 1


def matmul_fast(a: Any, b: Any, out: Any) -> Any:
    """``a @ b`` of two matrices whose inner sizes are equal ints (a step's ``h @ U``), with no
    ``out=`` or a symbolic one of the result's shape; None sends the call the long way."""
    ta, tb = type(a), type(b)
    if not ((ta is SymArray or ta is np.ndarray) and (tb is SymArray or tb is np.ndarray)):
        return None
    sa, sb = a.shape, b.shape
    if len(sa) != 2 or len(sb) != 2 or type(sa[1]) is not int or sa[1] != sb[0]:
        return None
    dtype = DTYPES.get((np.matmul, a.dtype, b.dtype))
    if dtype is None or type(dtype) is list:
        return None
    shape = (sa[0], sb[1])
    if out is None:
        _count_matmul(shape, sa[1])
        return SymArray._made(shape, dtype)
    o = out[0] if type(out) is tuple and len(out) == 1 else out
    if type(o) is SymArray and o.dtype is dtype and o.shape == shape:
        _count_matmul(o.shape, sa[1])  # the out's own shape: the same tuple at every step
        return o
    return None


def _count_matmul(shape: tuple, k: int) -> None:
    stack = context._active
    if stack:
        counter = stack[-1].counter
        if counter is not None:
            counter.add(MAC, shape, k)


def operator_method(ufunc: np.ufunc, reflected: bool = False, inplace: bool = False) -> Callable:
    """``a + b``, ``b + a``, ``a += b`` and the like: the fast path first, else numpy's dispatch
    (what ``NDArrayOperatorsMixin`` does, minus a call for the common case)."""
    if inplace:
        def method(self: "SymArray", other: Any) -> Any:
            fast = binary_fast(ufunc, self, other, self)
            return fast if fast is not None else ufunc(self, other, out=(self,))
    elif reflected:
        def method(self: "SymArray", other: Any) -> Any:
            fast = binary_fast(ufunc, other, self, None)
            return fast if fast is not None else ufunc(other, self)
    else:
        def method(self: "SymArray", other: Any) -> Any:
            fast = binary_fast(ufunc, self, other, None)
            return fast if fast is not None else ufunc(self, other)
    method.__name__ = f"__{'i' if inplace else 'r' if reflected else ''}{ufunc.__name__}__"
    return method



def elementwise_fast(ufunc: np.ufunc, inputs: tuple, out: Any) -> Any:
    """The common elementwise call — operands of one shape (or scalars), no out= or an out= of that
    shape — answered without the general machinery; None sends the call the long way."""
    shape = None
    key: list = [ufunc]
    for x in inputs:
        tx = type(x)
        if tx is SymArray:
            s = x.shape
            key.append(x.dtype)
        elif tx is float or tx is int:
            key.append(tx)
            continue
        elif tx is np.ndarray:
            s = x.shape
            key.append(x.dtype)
        else:
            return None
        if not s:
            continue
        if shape is None:
            shape = s
        elif len(s) != len(shape) or s != shape:
            return None
    dtype = DTYPES.get(tuple(key))
    if dtype is None or type(dtype) is list:
        return None
    if out is None:
        _count(ufunc, shape if shape is not None else ())
        return SymArray._made(shape if shape is not None else (), dtype)
    o = out[0] if type(out) is tuple and len(out) == 1 else out
    if type(o) is SymArray and o.dtype is dtype and shape is not None and o.shape == shape:
        _count(ufunc, shape)
        return o
    return None

