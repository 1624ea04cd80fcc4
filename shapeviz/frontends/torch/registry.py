"""The converters: one small function per torch module type, function or tensor method, registered
with :func:`converter`. The tables are the list of what maps (the refusal prints them)."""

from __future__ import annotations

from typing import Any, Callable

#: module type -> converter(ctx, node, module, *args, **kwargs)
MODULES: dict[type, Callable] = {}
#: function (torch.cat, F.relu, operator.getitem) -> converter(ctx, node, *args, **kwargs)
FUNCTIONS: dict[Any, Callable] = {}
#: tensor method name ("permute") -> converter(ctx, node, self, *args, **kwargs)
METHODS: dict[str, Callable] = {}


def converter(*targets: Any) -> Callable[[Callable], Callable]:
    """Register the decorated function for each target: an ``nn.Module`` subclass, a function, or a
    tensor method's name."""
    def register(fn: Callable) -> Callable:
        for target in targets:
            if isinstance(target, str):
                METHODS[target] = fn
            elif isinstance(target, type):
                MODULES[target] = fn
            else:
                FUNCTIONS[target] = fn
        return fn
    return register


def function_name(fn: Any) -> str:
    """``torch.cat``, ``F.relu``, ``operator.add``: how the user wrote it, near enough."""
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__name__", None) or repr(fn)
    if "VariableFunctions" in (getattr(fn, "__qualname__", "") or ""):  # torch.cat and the other built-ins
        return f"torch.{name}"
    if module == "builtins":
        return name
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch.nn.utils.rnn"):
        return f"nn.utils.rnn.{name}"
    if module.startswith("torch") or module == "" and "torch" in repr(fn):
        return f"torch.{name}"
    return f"{module}.{name}" if module else name


def supported() -> str:
    """What maps, for the refusal: the modules, functions and methods with a converter."""
    modules = sorted(f"nn.{t.__name__}" for t in MODULES)
    functions = sorted({function_name(f) for f in FUNCTIONS})
    methods = sorted(f".{m}()" for m in METHODS)
    return (f"modules {', '.join(modules)}; functions {', '.join(functions)}; tensor methods {', '.join(methods)}")


def lookup_module(module: Any) -> Callable | None:
    """The converter of exactly this module type: a subclass may compute something else."""
    return MODULES.get(type(module))
