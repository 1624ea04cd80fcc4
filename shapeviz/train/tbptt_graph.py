"""Whether a graph model can be trained by truncated BPTT, read off its graph: every tensor is a
sequence over the inputs' time axis, a value of the last step only, or free of time.

Windows cut the inputs' shared time axis; each recurrent node carries its final states into the
next window. That equals one pass over the whole sequence only if

- every recurrent node is unidirectional, reads forward, batch-first, once (one call per layer:
  a state is carried per call and the calls would share it), reads a sequence over the inputs'
  time axis, and starts from zeros or a carried state (not a state handed over by another layer,
  which comes from the full sequence, not from the previous window);
- every other layer on a sequence works step by step (Dense, TimeDistributed, merges of features,
  ...): a pooling, a reshape or a step selection reads the whole sequence, which a window does not have;
- the outputs are all per step (each window's loss is on its steps) or all per sequence (only the
  last window's output is read, as a many-to-one Sequential's).
"""

from __future__ import annotations

from typing import Any

from shapeviz.core.recurrent import Recurrent
from shapeviz.errors import ConfigError

SEQ, LAST, STATIC = "seq", "last", "static"
# layers whose output at step t reads their inputs at step t only
PER_STEP = {"dense", "dropout", "activation", "masking", "embedding", "time_distributed", "add", "subtract",
            "multiply", "average"}


def _per_step(layer: Any, rank: int) -> bool:
    if layer.kind in PER_STEP:
        return True
    if layer.kind == "concatenate":
        return layer.axis % rank >= 2  # along the features, not time or batch
    return False


def graph_tbptt_mode(model: Any, owner: str) -> bool:
    """Check a graph model for truncated BPTT (see the module docstring); returns True when the
    outputs are per step, False when they are per sequence (only the last window has a loss).

    Raises:
        ConfigError: naming the node (and the edge) that breaks it, and why.
    """
    kinds: dict[int, str] = {}
    for t in model.input_tensors:
        seq = t.ndim >= 3 or (t.ndim == 2 and t.dtype.kind in "iu")
        kinds[id(t)] = SEQ if seq else STATIC
        if seq and t.node.batch_axis != 0:
            raise ConfigError(f"{owner}: input {t.name!r} is time-major; truncated BPTT cuts batch-first data")
    if not any(k == SEQ for k in kinds.values()):
        raise ConfigError(f"{owner}: {model.summary_name()} has no input sequence, so there is no time axis to cut")
    recurrent = 0
    for node in model.nodes:
        layer = node.layer
        label = f"node {node.name!r} ({layer.kind})"
        reads = [kinds[id(t)] for t in node.inputs[:node.n_x]]
        if hasattr(layer, "backward_with_state"):
            if not isinstance(layer, Recurrent):
                raise ConfigError(f"{owner}: {label} reads the sequence in both directions; its backward direction "
                                  "would need the future of every window, so windows cannot be carried forward")
            if layer.go_backwards:
                raise ConfigError(f"{owner}: {label} has go_backwards=True: it starts from the last step, so the "
                                  "state at the end of one window is not the start of the next")
            if layer.time_major:
                raise ConfigError(f"{owner}: {label} is time_major; truncated BPTT cuts batch-first data")
            calls = [n for n in model.nodes if n.layer is layer]
            if len(calls) > 1:
                raise ConfigError(f"{owner}: layer {layer.name!r} ({layer.kind}) is called {len(calls)} times "
                                  f"({', '.join(repr(n.name) for n in calls)}); truncated BPTT carries one state "
                                  "per call between windows and cannot tell the calls' states apart in one layer")
            if len(node.inputs) > node.n_x:
                raise ConfigError(f"{owner}: {label} starts from a state handed over in the graph "
                                  f"({node.edge(node.n_x)}); that state is made from the whole sequence, not from "
                                  "the previous window, so the windows would not add up to one pass")
            if reads[0] != SEQ:
                raise ConfigError(f"{owner}: {label} reads a sequence made inside the graph ({node.edge(0)}), not "
                                  "the inputs' time axis that the windows cut")
            recurrent += 1
            seq_out = bool(getattr(layer, "return_sequences", False))
            for i, out in enumerate(node.outputs):
                kinds[id(out)] = SEQ if (i == 0 and seq_out) else LAST
            continue
        if SEQ in reads:
            rank = len(node.inputs[reads.index(SEQ)].shape)
            if not _per_step(layer, rank):
                raise ConfigError(f"{owner}: {label} reads the whole sequence ({node.edge(reads.index(SEQ))}), "
                                  "but a window holds only some of its steps; truncated BPTT needs layers that "
                                  "work step by step between the recurrent layers and the loss")
            mixed = [i for i, k in enumerate(reads) if k == LAST]
            if mixed:
                raise ConfigError(f"{owner}: {label} mixes a sequence with a value of the last step "
                                  f"({node.edge(mixed[0])}); a window's last step is not the sequence's")
            kind = SEQ
        else:
            kind = LAST if LAST in reads else STATIC
        for out in node.outputs:
            kinds[id(out)] = kind
    if not recurrent:
        raise ConfigError(f"{owner}: {model.summary_name()} has no recurrent layer, so there is no state to carry")
    outs = [(t, kinds[id(t)]) for t in model.output_tensors]
    per_step = [t for t, k in outs if k == SEQ]
    if per_step and len(per_step) != len(outs):
        other = next(t for t, k in outs if k != SEQ)
        raise ConfigError(f"{owner}: output {per_step[0].name!r} is per step but output {other.name!r} is per "
                          "sequence; windows need all outputs per step (a loss per window) or all per sequence "
                          "(a loss at the last window)")
    return bool(per_step)
