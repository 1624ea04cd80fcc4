"""pack_padded_sequence / pad_packed_sequence: padded data plus lengths, the mask they make."""

from __future__ import annotations

from typing import Any

from torch.nn.utils import rnn as rnn_utils

from shapeviz.core.axes import Transpose
from shapeviz.core.graph import InputNode
from shapeviz.core.lengths import PackSequence, PadPacked
from shapeviz.frontends.torch.converters.shared import name_of
from shapeviz.frontends.torch.mapper import Context, Packed
from shapeviz.frontends.torch.registry import converter


@converter(rnn_utils.pack_padded_sequence)
def pack(ctx: Context, node: Any, x: Any, lengths: Any, batch_first: bool = False,
         enforce_sorted: bool = True) -> Any:
    data = ctx.tensor(x, "the padded data")
    lengths = ctx.tensor(lengths, "the lengths")
    if lengths.ndim != 1:
        raise ctx.fail(f"the lengths must be one per sample (B,), got rank {lengths.ndim}")
    if isinstance(lengths.node, InputNode) and isinstance(data.node, InputNode):
        ctx.lengths_of[lengths.name] = data.name
    elif isinstance(lengths.node, InputNode):
        ctx.lengths_of[lengths.name] = ""
    y = PackSequence(time_major=not batch_first, name=name_of(ctx))([data, lengths])
    return Packed(y, lengths, not batch_first)


@converter(rnn_utils.pad_packed_sequence)
def pad(ctx: Context, node: Any, sequence: Any, batch_first: bool = False, padding_value: float = 0.0,
        total_length: Any = None) -> Any:
    if not isinstance(sequence, Packed):
        raise ctx.fail("pad_packed_sequence takes a PackedSequence (the output of an RNN module on packed input)")
    if padding_value != 0.0:
        raise ctx.fail(f"padding_value={padding_value!r} has no twin: the padded steps are zeros (padding_value=0)")
    y = PadPacked(time_major=sequence.time_major, name=name_of(ctx))(sequence.data)
    if batch_first == sequence.time_major:  # unpacked into the other layout than it was packed from
        y = Transpose((1, 0, 2), name=name_of(ctx, f"{node.name}.transpose"))(y)
    return (y, sequence.lengths)
