"""Functions and tensor methods: indexing and tuple unpacking, cat/stack, permute/transpose, view/reshape,
squeeze/unsqueeze, flatten, mean/sum/max, the activations, + and *."""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.nn.functional as F

from shapeviz.core.axes import Reduce, ReshapeAxes
from shapeviz.core.dropout import Dropout
from shapeviz.core.graph import GraphTensor
from shapeviz.core.merge import Add, Concatenate, Multiply, Stack
from shapeviz.core.graph import InputNode
from shapeviz.core.select import Index, _text as _key_text
from shapeviz.frontends.torch.converters.shared import (elementwise, flatten, last_axis_activation, name_of, reshape,
                                                        transpose)
from shapeviz.frontends.torch.mapper import Context, Shape, Size, Unmapped
from shapeviz.frontends.torch.registry import converter


# -- indexing, tuples, sizes -----------------------------------------------------------------
def _index_key(ctx: Context, x: GraphTensor, key: Any) -> tuple:
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        at = key.index(Ellipsis)
        fill = x.ndim - (len(key) - 1)
        key = key[:at] + (slice(None),) * fill + key[at + 1:]
    out = []
    for k in key:
        ok_slice = isinstance(k, slice) and all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                                                for v in (k.start, k.stop, k.step))
        if (isinstance(k, int) and not isinstance(k, bool)) or ok_slice:
            out.append(k)
        else:
            raise ctx.fail(f"indexing with {k!r} has no twin: shapeviz maps ints and slices (out[:, -1, :], "
                           "h_n[-1], h_n[-2:]), not tensors, None or steps given as tensors")
    if len(out) > x.ndim:
        raise ctx.fail(f"index {tuple(out)} has {len(out)} entries for a tensor of rank {x.ndim}")
    while out and out[-1] == slice(None):  # x[:, -1, :] is x[:, -1]
        out.pop()
    return tuple(out)


@converter(operator.getitem)
def getitem(ctx: Context, node: Any, x: Any, key: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return x[key]
    if isinstance(x, Shape):
        sizes = tuple(Size(x.tensor, k) for k in range(x.tensor.ndim))
        return sizes[key]
    x = ctx.tensor(x, "the indexed value")
    k = _index_key(ctx, x, key)
    if not k:
        return x
    source = x.name if isinstance(x.node, InputNode) or len(x.node.outputs) > 1 else x.node.layer.name
    name = name_of(ctx, f"{source}{_key_text(k)}")  # lstm.h_n[-1], lstm[:, -1]
    labels = ctx.state_labels.get(source)
    if labels is not None:  # which layer and direction of torch's (L·D, B, H) it takes
        picked = labels[k[0]] if isinstance(k[0], int) else "; ".join(labels[k[0]])
        what = source.rsplit(".", 1)[-1]
        ctx.selections[name] = f"{what} of {picked}" if isinstance(k[0], int) else f"{what} of {picked}"
    return Index(k, name=name)(x)


@converter(getattr)
def attribute(ctx: Context, node: Any, x: Any, name: str) -> Any:
    if name == "shape" and isinstance(x, GraphTensor):
        return Shape(x)
    if isinstance(x, tuple) and name in ("values", "indices"):  # max(dim)'s result
        return x[0] if name == "values" else x[1]
    raise ctx.fail(f"the attribute .{name} has no twin (shapeviz maps .shape, and .values of max(dim))")


@converter("size")
def size(ctx: Context, node: Any, x: Any, dim: Any = None) -> Any:
    x = ctx.tensor(x, "the input")
    return Shape(x) if dim is None else Size(x, ctx.axis(dim, x.ndim))


@converter("contiguous", "cpu", "clone", "detach", "to")
def same(ctx: Context, node: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


# -- joining -----------------------------------------------------------------------------------
def _tensors(ctx: Context, xs: Any, fn: str) -> list[GraphTensor]:
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ctx.fail(f"{fn} takes a list of tensors, got {xs!r}")
    return [ctx.tensor(x, f"{fn}'s input {i}") for i, x in enumerate(xs)]


@converter(torch.cat, torch.concat)
def cat(ctx: Context, node: Any, tensors: Any, dim: int = 0) -> Any:
    xs = _tensors(ctx, tensors, "cat")
    return Concatenate(axis=ctx.axis(dim, xs[0].ndim), name=name_of(ctx))(xs)


@converter(torch.stack)
def stack(ctx: Context, node: Any, tensors: Any, dim: int = 0) -> Any:
    xs = _tensors(ctx, tensors, "stack")
    return Stack(axis=ctx.axis(dim, xs[0].ndim + 1), name=name_of(ctx))(xs)


def _binary(ctx: Context, a: Any, b: Any, layer: type, symbol: str) -> Any:
    if not isinstance(a, GraphTensor) or not isinstance(b, GraphTensor):
        const = b if isinstance(a, GraphTensor) else a
        raise ctx.fail(f"{symbol} with the constant {const!r} has no twin: shapeviz maps {symbol} of two tensors "
                       "(Add, Multiply)")
    return layer(name=name_of(ctx))([a, b])


@converter(operator.add, torch.add)
def add(ctx: Context, node: Any, a: Any, b: Any) -> Any:
    return _binary(ctx, a, b, Add, "+")


@converter(operator.mul, torch.mul)
def mul(ctx: Context, node: Any, a: Any, b: Any) -> Any:
    return _binary(ctx, a, b, Multiply, "*")


# -- axes ----------------------------------------------------------------------------------------
@converter("permute", torch.permute)
def permute(ctx: Context, node: Any, x: Any, *dims: Any) -> Any:
    x = ctx.tensor(x, "the input")
    order = list(dims[0]) if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else list(dims)
    if len(order) != x.ndim:
        raise ctx.fail(f"permute{tuple(order)} names {len(order)} axes of a rank-{x.ndim} tensor")
    axes = [ctx.axis(d, x.ndim) for d in order]
    if sorted(axes) != list(range(x.ndim)):
        raise ctx.fail(f"permute{tuple(order)} is not a permutation of the {x.ndim} axes")
    return transpose(ctx, x, axes)


@converter("transpose", torch.transpose)
def swap(ctx: Context, node: Any, x: Any, dim0: int, dim1: int) -> Any:
    x = ctx.tensor(x, "the input")
    a, b = ctx.axis(dim0, x.ndim, "dim0"), ctx.axis(dim1, x.ndim, "dim1")
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(ctx, x, axes)


@converter("view", "reshape", torch.reshape)
def view(ctx: Context, node: Any, x: Any, *shape: Any) -> Any:
    return reshape(ctx, x, shape)


@converter("flatten", torch.flatten)
def flatten_fn(ctx: Context, node: Any, x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    return flatten(ctx, x, start_dim, end_dim)


@converter("squeeze", torch.squeeze)
def squeeze(ctx: Context, node: Any, x: Any, dim: Any = None) -> Any:
    x = ctx.tensor(x, "the input")
    if dim is None:
        drop = [k for k in range(x.ndim) if x.shape[k] == 1]
    else:
        k = ctx.axis(dim, x.ndim)
        if x.shape[k] is None:
            raise ctx.fail(f"squeeze({dim}) of a free axis (its size is 1 only for some inputs) has no twin")
        drop = [k] if x.shape[k] == 1 else []
    if not drop:
        return x
    target = [("axis", k) for k in range(x.ndim) if k not in drop]
    return ReshapeAxes(target, x.ndim, name=name_of(ctx))(x)


@converter("unsqueeze", torch.unsqueeze)
def unsqueeze(ctx: Context, node: Any, x: Any, dim: int) -> Any:
    x = ctx.tensor(x, "the input")
    k = ctx.axis(dim, x.ndim + 1)
    target: list[Any] = [("axis", a) for a in range(x.ndim)]
    target.insert(k, 1)
    return ReshapeAxes(target, x.ndim, name=name_of(ctx))(x)


# -- reductions ------------------------------------------------------------------------------
def _reduce(ctx: Context, op: str, x: Any, dim: Any, keepdim: bool) -> Any:
    x = ctx.tensor(x, "the input")
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise ctx.fail(f"{op} maps over one axis (dim=k), got dim={dim!r}")
    return Reduce(op, ctx.axis(dim, x.ndim), keepdims=bool(keepdim), name=name_of(ctx))(x)


@converter("mean", torch.mean)
def mean(ctx: Context, node: Any, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _reduce(ctx, "mean", x, dim, keepdim)


@converter("sum", torch.sum)
def total(ctx: Context, node: Any, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    return _reduce(ctx, "sum", x, dim, keepdim)


@converter("max", torch.max)
def maximum(ctx: Context, node: Any, x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    if isinstance(dim, GraphTensor):
        raise ctx.fail("the elementwise max of two tensors has no twin; shapeviz maps max over one axis (dim=k)")
    values = _reduce(ctx, "max", x, dim, keepdim)
    return (values, Unmapped("the indices of max"))


# -- activations and dropout ----------------------------------------------------------------
def _no_inplace(ctx: Context, inplace: bool) -> None:
    if inplace:
        raise ctx.fail("inplace=True has no twin: use inplace=False")


@converter(torch.relu, F.relu, "relu")
def relu(ctx: Context, node: Any, x: Any, inplace: bool = False) -> Any:
    _no_inplace(ctx, inplace)
    return elementwise(ctx, "relu", x)


@converter(torch.tanh, F.tanh, "tanh")
def tanh(ctx: Context, node: Any, x: Any) -> Any:
    return elementwise(ctx, "tanh", x)


@converter(torch.sigmoid, F.sigmoid, "sigmoid")
def sigmoid(ctx: Context, node: Any, x: Any) -> Any:
    return elementwise(ctx, "sigmoid", x)


@converter(torch.softmax, F.softmax, "softmax")
def softmax(ctx: Context, node: Any, x: Any, dim: Any = None, *args: Any, **kwargs: Any) -> Any:
    return last_axis_activation(ctx, "softmax", x, dim)


@converter(torch.log_softmax, F.log_softmax, "log_softmax")
def log_softmax(ctx: Context, node: Any, x: Any, dim: Any = None, *args: Any, **kwargs: Any) -> Any:
    return last_axis_activation(ctx, "log_softmax", x, dim)


@converter(F.dropout)
def dropout(ctx: Context, node: Any, x: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
    _no_inplace(ctx, inplace)
    x = ctx.tensor(x, "the input")
    if not training:
        return x
    return Dropout(p, name=name_of(ctx))(x)

