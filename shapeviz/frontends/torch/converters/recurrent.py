"""nn.RNN, nn.LSTM, nn.GRU: a stack of shapeviz recurrent layers (Bidirectional for two directions), the
final states stacked in torch's (L·D, B, H) order, initial states taken apart the same way.

Torch's two biases fold into Keras's one for RNN and LSTM (``bias = b_ih + b_hh``: the same sums
every step); GRU keeps both (``reset_after=True``). Names follow torch: ``lstm`` for one layer and
direction, else ``lstm.l0`` and ``lstm.l0_reverse`` per layer and direction (the Bidirectional
wrapper of layer l is ``lstm.layer{l}``, ``lstm`` alone when there is one layer).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.nn as nn

from shapeviz.core.bidirectional import Bidirectional
from shapeviz.core.convert import from_torch_weights, to_torch_weights
from shapeviz.core.dropout import Dropout
from shapeviz.core.gru import GRU
from shapeviz.core.lstm import LSTM
from shapeviz.core.merge import Stack
from shapeviz.core.select import Index
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.frontends.torch.mapper import Context, Packed, Weights
from shapeviz.frontends.torch.registry import converter

_KINDS = {nn.RNN: ("simple_rnn", SimpleRNN), nn.LSTM: ("lstm", LSTM), nn.GRU: ("gru", GRU)}


class _Stack:
    """The twin layers of one torch recurrent module (made on its first call, shared by later calls)."""

    def __init__(self, ctx: Context, target: str, module: nn.RNNBase, time_major: bool) -> None:
        kind, cls = _KINDS[type(module)]
        self.kind, self.target, self.module = kind, target, module
        self.L, self.D, self.H = module.num_layers, 2 if module.bidirectional else 1, module.hidden_size
        self.time_major = time_major
        options: dict[str, Any] = {"return_sequences": True, "return_state": True, "time_major": time_major,
                                   "use_bias": bool(module.bias)}
        if kind == "simple_rnn":
            options["activation"] = module.nonlinearity
        self.layers: list[Any] = []  # per torch layer: the recurrent layer or the Bidirectional
        self.directions: list[tuple[Any, str]] = []  # (twin layer, torch suffix) in torch's order
        self.dropouts: list[Any] = []
        single = self.L == 1 and self.D == 1
        for layer in range(self.L):
            if layer > 0 and module.dropout > 0:
                self.dropouts.append(Dropout(module.dropout, name=ctx.unique(f"{target}.dropout_l{layer}")))
            fw_name = target if single else f"{target}.l{layer}"
            if self.D == 1:
                fw = cls(self.H, name=ctx.unique(fw_name), **options)
                self.layers.append(fw)
                self.directions.append((fw, f"_l{layer}"))
            else:
                wrapper = target if self.L == 1 else f"{target}.layer{layer}"
                bi = Bidirectional(cls(self.H, name=fw_name, **options), merge_mode="concat",
                                   name=ctx.unique(wrapper))
                bi.forward_layer.name = ctx.unique(fw_name)
                bi.backward_layer.name = ctx.unique(f"{target}.l{layer}_reverse")
                self.layers.append(bi)
                self.directions += [(bi.forward_layer, f"_l{layer}"), (bi.backward_layer, f"_l{layer}_reverse")]
        for layer in self.layers:
            layer.imported_from = "torch"  # the trace's hints speak of batch_first
        for twin, suffix in self.directions:
            twin.imported_from = "torch"
            # torch counts both biases; the twin folds RNN's and LSTM's into one
            twin.source_param_count = sum(int(np.prod(p.shape)) for n, p in module.named_parameters()
                                          if n.split("_", 2)[2] == suffix[1:])
        ctx.weights.append(Weights(target, module, self.load, self.export))

    def load(self, state: dict[str, np.ndarray], layer_of: Any) -> None:
        for twin, suffix in self.directions:
            layer_of(twin.name).set_weights(from_torch_weights(self.kind, state, suffix))

    def export(self, layer_of: Any) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for twin, suffix in self.directions:
            out.update(to_torch_weights(self.kind, layer_of(twin.name).get_weights(), suffix))
        return out


def _initial_states(ctx: Context, hx: Any, stack: _Stack) -> list[list[Any]] | None:
    """Per torch layer, the initial states its twin takes: (L·D, B, H) tensors indexed per layer and direction."""
    if hx is None:
        return None
    parts = list(hx) if isinstance(hx, (tuple, list)) else [hx]
    names = ["h0", "c0"] if stack.kind == "lstm" else ["h0"]
    if len(parts) != len(names):
        raise ctx.fail(f"nn.{type(stack.module).__name__} takes the initial state as "
                       f"{'(h0, c0)' if stack.kind == 'lstm' else 'h0'}, got {len(parts)} tensor(s)")
    tensors = [ctx.tensor(p, n) for p, n in zip(parts, names)]
    for t, n in zip(tensors, names):
        if t.ndim != 3:
            raise ctx.fail(f"{n} must be (L·D, B, H) = ({stack.L * stack.D}, B, {stack.H}), got rank {t.ndim}")
    per_layer: list[list[Any]] = []
    for layer in range(stack.L):
        states = []
        for d in range(stack.D):
            k = layer * stack.D + d
            for t, n in zip(tensors, names):
                states.append(Index((k,), name=ctx.unique(f"{stack.target}.{n}[{k}]"))(t))
        per_layer.append(states)
    return per_layer


@converter(nn.RNN, nn.LSTM, nn.GRU)
def recurrent(ctx: Context, node: Any, module: nn.RNNBase, x: Any, hx: Any = None) -> Any:
    target = str(node.target)
    name = type(module).__name__
    if getattr(module, "proj_size", 0):
        raise ctx.fail(f"nn.LSTM(proj_size={module.proj_size}) has no twin: shapeviz's LSTM has no projection; "
                       "supported: num_layers, bidirectional, batch_first, dropout, bias")
    if isinstance(module, nn.RNN) and module.nonlinearity not in ("tanh", "relu"):
        raise ctx.fail(f"nn.RNN(nonlinearity={module.nonlinearity!r}) has no twin (tanh, relu)")
    packed = x if isinstance(x, Packed) else None
    seq = packed.data if packed is not None else ctx.tensor(x, "the input")
    if seq.ndim != 3:
        raise ctx.fail(f"nn.{name} maps for batched input of rank 3, (B, T, F) with batch_first=True or (T, B, F), "
                       f"got rank {seq.ndim}")
    # a packed sequence's layout is the packing's own; the module's batch_first does not read it
    time_major = packed.time_major if packed is not None else not module.batch_first
    stack = ctx.module_layers.get(id(module))
    if stack is None:
        stack = ctx.module_layers[id(module)] = _Stack(ctx, target, module, time_major)
    elif stack.time_major != time_major:
        raise ctx.fail(f"nn.{name} {target!r} is called on both batch-first and time-major data")
    for twin, suffix in stack.directions:
        ctx.notes[twin.name] = f"layer {suffix[2:].split('_')[0]}" + (", backward direction" if "reverse" in suffix
                                                                      else ", forward direction" if stack.D == 2 else "")
    initial = _initial_states(ctx, hx, stack)
    y = seq
    finals: list[list[Any]] = []  # per state (h, c), the final states in torch's (layer, direction) order
    n_states = 2 if stack.kind == "lstm" else 1
    finals = [[] for _ in range(n_states)]
    drops = iter(stack.dropouts)
    for layer, twin in enumerate(stack.layers):
        if layer > 0 and module.dropout > 0:
            y = next(drops)(y)
        outs = twin(y, initial_state=None if initial is None else initial[layer])
        y, states = outs[0], list(outs[1:])
        for d in range(stack.D):
            for s in range(n_states):
                finals[s].append(states[d * n_states + s])
    stacked = [Stack(axis=0, name=ctx.unique(f"{target}.{n}"))(f) for n, f in zip(("h_n", "c_n"), finals)]
    labels = [f"layer {layer}{' (the last)' if layer == stack.L - 1 and stack.L > 1 else ''}"
              + ("" if stack.D == 1 else ", forward direction" if d == 0 else ", backward direction")
              for layer in range(stack.L) for d in range(stack.D)]
    for t in stacked:
        ctx.state_labels[t.node.layer.name] = labels
    out: Any = Packed(y, packed.lengths, packed.time_major) if packed is not None else y
    return (out, tuple(stacked)) if stack.kind == "lstm" else (out, stacked[0])
