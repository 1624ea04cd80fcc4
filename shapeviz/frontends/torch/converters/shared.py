"""Helpers several converters use: reshapes by axis, activations over the last axis, one layer per call."""

from __future__ import annotations

from typing import Any

from shapeviz.core.activation import Activation
from shapeviz.core.axes import ReshapeAxes, Transpose
from shapeviz.frontends.torch.mapper import Context, Size


def name_of(ctx: Context, what: str | None = None) -> str:
    """A fresh layer name for the node being mapped: its fx name (``cat``, ``getitem_3``)."""
    return ctx.unique(what or (ctx.node.name if ctx.node is not None else "op"))


def last_axis_activation(ctx: Context, act: str, x: Any, dim: Any, name: str | None = None) -> Any:
    """softmax / log_softmax over ``dim``, which must be the last axis (shapeviz's are)."""
    x = ctx.tensor(x, "the input")
    if dim is None:
        raise ctx.fail(f"{act} without `dim` (torch's implicit dim is deprecated) has no twin: give dim=-1")
    axis = ctx.axis(dim, x.ndim)
    if axis != x.ndim - 1:
        raise ctx.fail(f"{act} over dim={dim} of a rank-{x.ndim} tensor has no twin: shapeviz's {act} is over the "
                       f"last axis (dim=-1); move that axis last first (permute/transpose)")
    return Activation(act, name=name_of(ctx, name))(x)


def elementwise(ctx: Context, act: str, x: Any) -> Any:
    return Activation(act, name=name_of(ctx))(ctx.tensor(x, "the input"))


def flatten(ctx: Context, x: Any, start: Any, end: Any, name: str | None = None) -> Any:
    """torch's flatten(start_dim, end_dim) as a :class:`ReshapeAxes` that merges those axes."""
    x = ctx.tensor(x, "the input")
    s, e = ctx.axis(start, x.ndim, "start_dim"), ctx.axis(end, x.ndim, "end_dim")
    if s > e:
        raise ctx.fail(f"flatten's start_dim {start} comes after end_dim {end} for a rank-{x.ndim} tensor")
    if s == e:
        return x
    target = [("axis", k) for k in range(s)] + [("merge", tuple(range(s, e + 1)))] + \
        [("axis", k) for k in range(e + 1, x.ndim)]
    return ReshapeAxes(target, x.ndim, name=name_of(ctx, name))(x)


def transpose(ctx: Context, x: Any, axes: list[int]) -> Any:
    if axes == list(range(len(axes))):
        return x
    return Transpose(tuple(axes), name=name_of(ctx))(x)


def reshape(ctx: Context, x: Any, shape: Any) -> Any:
    """``x.view(*shape)``: each entry an int, -1 or ``y.size(k)``, as a :class:`ReshapeAxes` that holds for any
    batch and sequence length."""
    x = ctx.tensor(x, "the input")
    entries = list(shape[0]) if len(shape) == 1 and isinstance(shape[0], (list, tuple)) else list(shape)
    target: list[Any] = []
    referenced: set[int] = set()
    fixed = 1
    unknown = None
    for i, e in enumerate(entries):
        if isinstance(e, Size):
            if e.tensor is x:
                target.append(("axis", e.axis))
                referenced.add(e.axis)
            elif e.tensor.shape[e.axis] is not None:
                target.append(int(e.tensor.shape[e.axis]))
                fixed *= int(e.tensor.shape[e.axis])
            else:
                raise ctx.fail(f"shape entry {i} is the free size of axis {e.axis} of another tensor "
                               f"({e.tensor.describe()}); write it as the input's own size (x.size(k)) or -1")
        elif isinstance(e, int) and not isinstance(e, bool) and e == -1 and unknown is None:
            unknown = i
            target.append(None)
        elif isinstance(e, int) and not isinstance(e, bool) and e > 0:
            target.append(e)
            fixed *= e
        else:
            raise ctx.fail(f"shape entry {i} must be a positive int, one -1, or a size x.size(k), got {e!r}")
    if unknown is not None:
        rest = [k for k in range(x.ndim) if k not in referenced]
        static = 1
        for k in rest:
            static *= x.shape[k] if x.shape[k] is not None else 1
        free = tuple(k for k in rest if x.shape[k] is None)
        if not free:
            if static % fixed:
                raise ctx.fail(f"cannot view {x.shape} as {entries}: {static} elements do not divide by {fixed}")
            target[unknown] = static // fixed
        elif fixed == 1:
            target[unknown] = ("merge", tuple(rest))
        elif static == fixed:
            target[unknown] = ("merge", free)
        else:
            raise ctx.fail(f"the -1 in {entries} mixes the free axes {free} of the input with fixed sizes; name "
                           "the free sizes with x.size(k) instead")
    return ReshapeAxes(target, x.ndim, name=name_of(ctx))(x)
