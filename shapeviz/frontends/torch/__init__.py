"""The PyTorch front end: a user's ``nn.Module`` as an exact numpy twin (a :class:`~shapeviz.Functional`).

``shapeviz.from_torch(module, inputs="(B, T, 5)")`` in Python; on the command line a ``build()``
returning an ``nn.Module`` (``shapeviz report net.py:build``). The input declaration comes from, in
order: ``inputs=`` (``--input``), the module's ``inputs`` attribute (``model.inputs = "(B, T, 5)"``,
a tuple for several inputs), or its ``example_inputs`` (tensors: their shapes, with the batch
axis and, for a recurrent model, the time axis named).

How it works (``capture`` -> ``mapper`` with the ``converters`` -> ``verify``): torch.fx records the
forward's module calls, functions and tensor methods (:mod:`.capture`); each node is mapped by the
converter registered for its module type, function or method (:mod:`.registry`, :mod:`.converters`)
onto shapeviz layers in a functional graph; the module's weights are copied; one forward pass on
a small random input through both must agree (:mod:`.verify`). What cannot be mapped exactly stops
the import naming the module or function, its source line and what is supported.
"""

from __future__ import annotations

from typing import Any

from shapeviz.frontends.base import Loaded, ModelLoadError

INSTALL = 'pip install "shapeviz[torch]"'


def require_torch() -> Any:
    """torch, or the error saying how to install it."""
    try:
        import torch
        import torch.fx  # noqa: F401
    except ImportError as error:
        raise ModelLoadError(f"importing a PyTorch module needs torch, which is not installed ({error}): "
                             f"{INSTALL}") from None
    return torch


def is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is an ``nn.Module``, without importing torch (not installed: it cannot be one)."""
    return any(c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module" for c in type(obj).__mro__)


def _declarations(module: Any, inputs: Any, source: str) -> list[Any]:
    if inputs is None:
        inputs = getattr(module, "inputs", None)
        if inputs is not None and not isinstance(inputs, (str, tuple, list)):
            inputs = None
    if inputs is None and getattr(module, "example_inputs", None) is not None:
        inputs = _from_examples(module.example_inputs)
    if inputs is None:
        raise ModelLoadError(
            f"{source}: expected the input shape of {type(module).__name__}, e.g. --input \"(B, T, 5)\" (a ';' "
            "between several), got none: pass inputs= to shapeviz.from_torch, or set model.inputs = "
            "\"(B, T, 5)\" (a tuple for several inputs) in build()")
    return [inputs] if isinstance(inputs, str) else list(inputs)


def _from_examples(examples: Any) -> tuple:
    """``(B, T, 5)`` for a (2, 7, 5) float example, ``(B, T)`` for (2, 7) ids, ``(B,)`` for (2,) lengths."""
    items = examples if isinstance(examples, (tuple, list)) else (examples,)
    out = []
    for e in items:
        shape = tuple(e.shape)
        ids = not e.is_floating_point()
        named = ["B", "T"][:len(shape) - (0 if ids else 1)] if len(shape) <= 3 else ["B"]
        out.append("(" + ", ".join(named + [str(d) for d in shape[len(named):]]) + (",)" if len(shape) == 1 else ")"))
    return tuple(out)


def _flat(value: Any) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _flat(v)]
    return [value]


def from_torch(module: Any, inputs: Any = None, *, source: str | None = None, verify: bool = True) -> Any:
    """The numpy twin of a torch module: a :class:`~shapeviz.Functional` with its weights.

    Args:
        module: the ``nn.Module``.
        inputs: its input declaration(s), ``"(B, T, 5)"`` or ``("(B, T)", "(B,)")`` (ids and lengths are
            integers: the front end tells them by what reads them); by default ``module.inputs`` or
            ``module.example_inputs``.
        source: how messages name it (``net.py:build``); the module's class name by default.
        verify: compare one forward pass with torch's (an error above 1e-4 in float32).

    Returns:
        The twin (several outputs, nested as ``(out, (h_n, c_n))``, come out as a flat list in that
        order); ``twin.torch_source.note`` says how well it matched, ``twin.to_torch_state_dict()``
        gives its weights back in the module's layout.
    """
    return load(module, inputs, source=source, verify=verify).model


def load(module: Any, inputs: Any = None, *, source: str | None = None, verify: bool = True) -> Loaded:
    """The front end's entry (:func:`shapeviz.frontends.load`): the twin and its declarations."""
    torch = require_torch()
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"expected a torch.nn.Module, got {type(module).__name__}")
    source = source or type(module).__name__
    from shapeviz.core.functional import Functional
    from shapeviz.frontends.torch import capture, mapper
    from shapeviz.frontends.torch.export import TorchSource

    decls = _declarations(module, inputs, source)
    gm = capture.capture(module, len(decls), source)
    tensors, output, ctx = mapper.run(gm, module, decls, source)
    if isinstance(output, (tuple, list)):  # (out, (h_n, c_n)) -> [out, h_n, c_n]
        flat = _flat(output)
        outputs: Any = [ctx.tensor(o, f"output {i}") for i, o in enumerate(flat)]
    else:
        outputs = ctx.tensor(output, "the output")
    dtypes = {p.dtype for p in module.parameters()}
    dtype = "float64" if dtypes == {torch.float64} else "float32"
    twin = Functional(tensors if len(tensors) > 1 else tensors[0], outputs, name=type(module).__name__, dtype=dtype)
    twin.torch_source = TorchSource(module, ctx.weights, None, ctx.notes)
    twin.torch_source.load(twin)
    note = None
    if verify:
        from shapeviz.frontends.torch.verify import verify as run_verify

        _, note = run_verify(gm, module, twin, tensors, output, ctx)
        twin.torch_source.note = note
    picks = [f"  {name}: {what}" for name, what in ctx.selections.items() if name in {l.name for l in twin.layers}]
    if picks:  # h_n[-1] of a stack: which layer and direction torch puts there
        note = "\n".join([note or "not verified against torch", *picks])
    declared = decls[0] if len(decls) == 1 else tuple(decls)
    return Loaded(twin, source, inputs=declared, note=note)


__all__ = ["from_torch", "load", "require_torch", "is_torch_module", "INSTALL"]
