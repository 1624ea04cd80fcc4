"""Capture a torch module's structure with torch.fx: our own tracer, which keeps the packed-sequence
functions and the recurrent modules as single calls, and leaves nothing patched behind."""

from __future__ import annotations

import inspect
import os
import re
from typing import Any, Callable

import torch
import torch.fx as fx
from torch.nn.utils import rnn as rnn_utils

from shapeviz.frontends.base import ModelLoadError

#: Functions recorded as one call each instead of being traced through (fx cannot trace them:
#: they read tensor values).
LEAF_FUNCTIONS: tuple[str, ...] = ("pack_padded_sequence", "pad_packed_sequence")

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)\s*$')
_TORCH_DIR = os.path.dirname(torch.__file__)
_OURS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _leaf(fn: Callable) -> Callable:
    """``fn`` as a leaf: called on a Proxy it records one call_function node of ``fn`` itself."""
    def call(*args: Any, **kwargs: Any) -> Any:
        proxy = next((a for a in (*args, *kwargs.values()) if isinstance(a, fx.Proxy)), None)
        if proxy is None:
            return fn(*args, **kwargs)
        return proxy.tracer.create_proxy("call_function", fn, args, kwargs)
    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


class ShapevizTracer(fx.Tracer):
    """torch.fx's tracer with the packed-sequence functions kept as leaf calls and stack traces
    recorded (``node.meta['stack_trace']``, for errors that name the user's line).

    A function imported by name (``from torch.nn.utils.rnn import pack_padded_sequence``) is
    wrapped through fx's own ``autowrap_functions`` (fx patches the forward's globals while it
    traces and restores them); one reached as an attribute (``nn.utils.rnn.pack_padded_sequence``)
    is swapped in ``torch.nn.utils.rnn`` for the duration of :meth:`trace` only, and restored in a
    ``finally``, so no later trace, ours or anyone's, sees a patched function.
    """

    def __init__(self) -> None:
        super().__init__(autowrap_functions=tuple(getattr(rnn_utils, n) for n in LEAF_FUNCTIONS))
        self.record_stack_traces = True

    def trace(self, root: Any, concrete_args: dict[str, Any] | None = None) -> fx.Graph:
        originals = {name: getattr(rnn_utils, name) for name in LEAF_FUNCTIONS}
        try:
            for name, fn in originals.items():
                setattr(rnn_utils, name, _leaf(fn))
            return super().trace(root, concrete_args)
        finally:
            for name, fn in originals.items():
                setattr(rnn_utils, name, fn)


def user_frame(stack_trace: str | None) -> str | None:
    """``file.py:12 in forward: out, (h, c) = self.lstm(x)``: the first frame of a recorded stack
    trace in the user's code (not torch's or shapeviz's), or None."""
    if not stack_trace:
        return None
    lines = stack_trace.splitlines()
    found = None
    for i, line in enumerate(lines):  # outermost first: the last of the user's frames is the line itself
        m = _FRAME.match(line)
        if not m:
            continue
        path = os.path.abspath(m.group("file"))
        if path.startswith(_TORCH_DIR) or path.startswith(_OURS + os.sep + "shapeviz"):
            continue
        code = lines[i + 1].strip() if i + 1 < len(lines) else ""
        found = f"{os.path.basename(path)}:{m.group('line')} in {m.group('func')}: {code}"
    return found


def _trace_error_line(error: BaseException) -> str | None:
    """The user's line a tracing error was raised at, from its traceback."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        path = os.path.abspath(frame.filename)
        if not path.startswith(_TORCH_DIR) and not path.startswith(_OURS + os.sep + "shapeviz"):
            return f"{os.path.basename(path)}:{frame.lineno} in {frame.name}: {(frame.line or '').strip()}"
    return None


def capture(module: torch.nn.Module, n_inputs: int, source: str) -> "Captured":
    """The fx graph of ``module.forward`` for its first ``n_inputs`` arguments (the others keep their
    defaults, as a call with ``n_inputs`` arguments would).

    Raises:
        ModelLoadError: fx cannot trace it (control flow that depends on tensor values, ...): the
            message names the line and what to do.
    """
    params = [p for p in inspect.signature(module.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    concrete: dict[str, Any] = {}
    for p in params[n_inputs:]:
        if p.default is inspect.Parameter.empty:
            raise ModelLoadError(
                f"{source}: {type(module).__name__}.forward takes {len(params)} inputs "
                f"({', '.join(q.name for q in params)}), got a declaration for {n_inputs}; declare one shape per "
                f"input, e.g. inputs=(\"(B, T, 5)\", \"(B,)\")")
        concrete[p.name] = p.default
    tracer = ShapevizTracer()
    try:
        graph = tracer.trace(module, concrete_args=concrete or None)
    except Exception as error:  # noqa: BLE001 - fx's TraceError and whatever the user's code raised on a Proxy
        where = _trace_error_line(error)
        raise ModelLoadError(
            f"{source}: torch.fx cannot trace {type(module).__name__}.forward ({type(error).__name__}: {error})"
            + (f" at {where}" if where else "")
            + ". A Python loop or branch that depends on tensor values "
            "(or on their sizes) cannot be captured; shapeviz maps the recurrent modules (nn.RNN, nn.LSTM, "
            "nn.GRU) as whole calls, so loop over time inside them rather than in forward") from None
    # no fx.GraphModule: its code generation registers fx.wrap() of the leaf functions globally
    # (torch.fx._symbolic_trace._wrapped_fns_to_patch), which every later trace in the process trips on
    return Captured(graph, module)


class Captured:
    """The traced graph and the module it came from (what :mod:`.mapper` and :mod:`.verify` read)."""

    def __init__(self, graph: fx.Graph, root: torch.nn.Module) -> None:
        self.graph = graph
        self.root = root

    def run(self, *args: Any) -> dict[str, Any]:
        """Every node's value on ``args``: torch.fx's Interpreter, without a GraphModule."""
        env: dict[str, Any] = {}
        inputs = iter(args)
        for node in self.graph.nodes:
            a = fx.node.map_arg(node.args, lambda n: env[n.name])
            k = fx.node.map_arg(node.kwargs, lambda n: env[n.name])
            if node.op == "placeholder":
                env[node.name] = next(inputs)
            elif node.op == "call_module":
                env[node.name] = self.root.get_submodule(str(node.target))(*a, **k)
            elif node.op == "call_function":
                env[node.name] = node.target(*a, **k)
            elif node.op == "call_method":
                env[node.name] = getattr(a[0], str(node.target))(*a[1:], **k)
            elif node.op == "get_attr":
                env[node.name] = self.root.get_parameter(str(node.target))
            elif node.op == "output":
                env[node.name] = a[0]
        return env
