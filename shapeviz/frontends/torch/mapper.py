"""The mapping loop: torch.fx's Interpreter, with a converter per node instead of a computation.

Each fx node's value is what the twin has for it: a graph tensor (``GraphTensor``), a tuple of
values (``out, (h_n, c_n)``), a Python constant, a size (``x.size(0)``), or a packed sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.fx as fx

from shapeviz.core.graph import GraphTensor, Input
from shapeviz.errors import ShapeVizError
from shapeviz.frontends.base import ModelLoadError
from shapeviz.frontends.torch import registry
from shapeviz.frontends.torch.capture import user_frame


class MappingError(ModelLoadError):
    """A node of the captured graph has no exact twin."""


@dataclass(frozen=True)
class Shape:
    """``x.shape`` / ``x.size()`` of a graph tensor."""
    tensor: GraphTensor


@dataclass(frozen=True)
class Size:
    """``x.size(k)`` / ``x.shape[k]``: the size of axis ``axis`` of ``tensor`` (known or free)."""
    tensor: GraphTensor
    axis: int


@dataclass(frozen=True)
class Packed:
    """A PackedSequence: the padded data (carrying the lengths' mask), the lengths, its layout."""
    data: GraphTensor
    lengths: GraphTensor
    time_major: bool


@dataclass(frozen=True)
class Unmapped:
    """A value the twin does not have (``max``'s indices): using it is an error naming ``what``."""
    what: str


@dataclass
class Weights:
    """How a twin layer's weights come from (and go back to) the torch module's state_dict."""
    prefix: str  # the module's name in the root's state_dict, "lstm" ("" for the root itself)
    module: torch.nn.Module
    # the module's own state (numpy) -> the twin's layers, found by name with ``layer_of(name)`` (by name:
    # a copy of the twin, ``copy.deepcopy``, has layers of its own)
    load: Callable[[dict[str, np.ndarray], Callable[[str], Any]], None]
    export: Callable[[Callable[[str], Any]], dict[str, np.ndarray]]  # the twin's layers -> the module's state


@dataclass
class Context:
    """What converters share: names, the weights to copy, the roles of the inputs."""
    root: torch.nn.Module
    source: str
    node: fx.Node | None = None
    names: set[str] = field(default_factory=set)
    weights: list[Weights] = field(default_factory=list)
    module_layers: dict[int, Any] = field(default_factory=dict)  # id(module) -> what a converter keeps
    vocab: dict[str, int] = field(default_factory=dict)  # input name -> vocabulary of the Embedding reading it
    lengths_of: dict[str, str] = field(default_factory=dict)  # lengths input -> the data input it measures
    notes: dict[str, str] = field(default_factory=dict)  # layer name -> how torch reads it
    env: dict[str, Any] = field(default_factory=dict)  # fx node name -> its twin value
    # h_n / c_n stack layer name -> what each of its (L·D) entries is ("layer 1 (last), backward direction")
    state_labels: dict[str, list[str]] = field(default_factory=dict)
    selections: dict[str, str] = field(default_factory=dict)  # Index layer name -> what it picks of h_n

    def unique(self, name: str) -> str:
        """``name``, or ``name_2``, ``name_3``... if taken."""
        base, k = name, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def fail(self, message: str) -> MappingError:
        return MappingError(self.where() + message)

    def where(self) -> str:
        node = self.node
        if node is None:
            return f"{self.source}: "
        line = user_frame(node.meta.get("stack_trace"))
        owner = _owner(node)
        return f"{self.source}: {describe(node)}{owner}{f' at {line}' if line else ''}: "

    def tensor(self, value: Any, what: str) -> GraphTensor:
        """``value`` as a graph tensor, or the error saying what it is instead."""
        if isinstance(value, GraphTensor):
            return value
        if isinstance(value, Packed):
            raise self.fail(f"{what} is a PackedSequence: only nn.RNN/nn.LSTM/nn.GRU and pad_packed_sequence "
                            "take one (unpack it with pad_packed_sequence first)")
        if isinstance(value, Unmapped):
            raise self.fail(f"{what} is {value.what}, which shapeviz does not map")
        raise self.fail(f"{what} must be a tensor, got {type(value).__name__} {value!r}")

    def axis(self, dim: Any, rank: int, what: str = "dim") -> int:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise self.fail(f"`{what}` must be an int, got {dim!r}")
        if not -rank <= dim < rank:
            raise self.fail(f"`{what}`={dim} is out of range for a tensor of rank {rank}")
        return dim % rank


def describe(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"module {node.target!r}"
    if node.op == "call_method":
        return f"method .{node.target}()"
    if node.op == "call_function":
        return f"function {registry.function_name(node.target)}"
    return f"{node.op} {node.target!r}"


def _owner(node: fx.Node) -> str:
    """`` in module 'enc.cell' (MyCell)``: the user's module a function call sits in, when not the root."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack or node.op == "call_module":
        return ""
    path, cls = list(stack.values())[-1]
    name = getattr(cls, "__name__", str(cls).rsplit(".", 1)[-1].strip("'>"))
    return f" in module {path!r} ({name})" if path else ""


def _map_args(value: Any, env: dict[str, Any]) -> Any:
    return fx.node.map_arg(value, lambda n: env[n.name])


def _resolved(value: Any) -> Any:
    """fx's immutable lists and tuples as plain ones (kept nested)."""
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_resolved(v) for v in value)
    return value


def input_dtype(node: fx.Node, root: torch.nn.Module) -> str:
    """int64 for a placeholder that holds ids (read by an nn.Embedding) or lengths (a packing's
    second argument); the model's float dtype otherwise."""
    from torch.nn.utils import rnn as rnn_utils

    leaves = {getattr(rnn_utils, "pack_padded_sequence"), getattr(getattr(rnn_utils, "pack_padded_sequence"),
                                                                     "__wrapped__", None)}
    for user in node.users:
        if user.op == "call_module" and isinstance(root.get_submodule(str(user.target)), torch.nn.Embedding):
            return "int64"
        if user.op == "call_function" and getattr(user.target, "__name__", "") == "embedding":
            return "int64"
        if user.op == "call_function" and (user.target in leaves or
                                           getattr(user.target, "__name__", "") == "pack_padded_sequence"):
            lengths = user.args[1] if len(user.args) > 1 else user.kwargs.get("lengths")
            if lengths is node:
                return "int64"
        if user.op == "call_method" and user.target in ("cpu", "long", "int", "to"):
            return input_dtype(user, root)
    return "float"


def run(gm: Any, root: torch.nn.Module, declarations: list[Any], source: str) -> tuple[list, Any, Context]:
    """Map every node of ``gm.graph`` (a :class:`~.capture.Captured`). Returns the Input tensors, the output value, and the context."""
    from shapeviz.frontends.torch import converters  # noqa: F401 - registers every converter

    ctx = Context(root, source)
    env = ctx.env
    inputs: list[GraphTensor] = []
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    output: Any = None
    for node in gm.graph.nodes:
        ctx.node = node
        if node.op == "placeholder":
            i = placeholders.index(node)
            if i >= len(declarations):  # a default fx kept as an input (concrete_args are removed)
                raise ctx.fail(f"forward's input {node.target!r} has no declared shape; declare one per input")
            dtype = input_dtype(node, root)
            t = Input(declarations[i], name=str(node.target), dtype=None if dtype == "float" else dtype)
            ctx.names.add(t.name)
            inputs.append(t)
            env[node.name] = t
            continue
        if node.op == "output":
            output = _resolved(_map_args(node.args[0], env))
            break
        args = _resolved(_map_args(node.args, env))
        kwargs = {k: _resolved(v) for k, v in _map_args(node.kwargs, env).items()}
        try:
            env[node.name] = _convert(ctx, node, args, kwargs)
        except MappingError:
            raise
        except ShapeVizError as error:  # a layer refused its input at the graph call
            raise ctx.fail(str(error)) from None
    ctx.node = None
    return inputs, output, ctx


def _convert(ctx: Context, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    if node.op == "call_module":
        module = ctx.root.get_submodule(str(node.target))
        fn = registry.lookup_module(module)
        if fn is None:
            raise ctx.fail(f"{type(module).__name__} has no converter (a custom module with its own step "
                           f"loop, or one shapeviz does not map); supported: {registry.supported()}")
        return fn(ctx, node, module, *args, **kwargs)
    if node.op == "call_function":
        fn = registry.FUNCTIONS.get(node.target)
        if fn is None:
            fn = registry.FUNCTIONS.get(getattr(node.target, "__wrapped__", None))
        if fn is None:
            raise ctx.fail(f"no converter; supported: {registry.supported()}")
        return fn(ctx, node, *args, **kwargs)
    if node.op == "call_method":
        fn = registry.METHODS.get(str(node.target))
        if fn is None:
            raise ctx.fail(f"no converter; supported: {registry.supported()}")
        return fn(ctx, node, *args, **kwargs)
    if node.op == "get_attr":
        raise ctx.fail("a parameter or buffer read directly in forward has no twin: use it through a module "
                       f"(nn.Linear, nn.Embedding, ...); supported: {registry.supported()}")
    raise ctx.fail(f"unknown fx node kind {node.op!r}")
