"""How much memory a command may take: ``--max-memory``, its default, and refusing before allocating.

The default is half of the machine's memory (``/proc/meminfo``'s MemTotal, else ``os.sysconf``),
4 GiB when neither tells. A command that allocates for real (``check --data``, ``check --deep``,
``train``) estimates what it needs first — the parameters with their gradients and optimizer
slots, the activations BPTT keeps for a batch (the tracer's memory formula), the data — and
refuses with the estimate, the limit and how to raise it when the estimate is over the limit.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

import click

from shapeviz.errors import ShapeVizError

FRACTION = 0.5  # of the machine's memory: the default limit
FALLBACK = 4 << 30  # bytes, when the machine does not say how much it has
ENV = "SHAPEVIZ_MAX_MEMORY"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class ResourceLimitError(ShapeVizError):
    """A command would need more memory than ``--max-memory`` allows."""


def machine_memory() -> int | None:
    """The machine's memory in bytes (MemTotal), or None when it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def default_limit() -> int:
    total = machine_memory()
    return int(total * FRACTION) if total else FALLBACK


def parse_size(text: str) -> int:
    """``"4G"``, ``"512MiB"``, ``"1.5 GB"``, ``"1000000"`` (bytes) as bytes; units are powers of 1024."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if m is None:
        raise ValueError(f"expected a size such as 4G, 512M or 1.5GiB, got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not value >= 1:
        raise ValueError(f"expected a positive size, got {text!r}")
    return int(value)


def _convert(ctx: click.Context, param: click.Parameter, value: Any) -> int:
    if value is None:
        return default_limit()
    try:
        return parse_size(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def max_memory_option(fn: Callable) -> Callable:
    """``--max-memory SIZE`` (also ``SHAPEVIZ_MAX_MEMORY``), given to the command as ``max_memory`` bytes."""
    return click.option("--max-memory", "max_memory", metavar="SIZE", envvar=ENV, callback=_convert,
                        help="The memory this command may use, e.g. 8G or 512M (default: half of this machine's "
                             f"memory; also {ENV}). What a run needs is estimated before it starts, and a run "
                             "over the limit is refused.")(fn)


def describe_limit(limit: int) -> str:
    from shapeviz.tracing.budget import human

    if limit == default_limit():
        total = machine_memory()
        return f"{human(limit)} (the default: half of this machine's {human(total)})" if total else \
            f"{human(limit)} (the default)"
    return human(limit)


def refuse_over(need: int, limit: int, what: str, parts: str = "") -> None:
    """Raise :class:`ResourceLimitError` when ``need`` bytes is over ``limit``: ``what`` needs about
    ``need`` (``parts`` says of what), the limit, and how to raise it."""
    if need <= limit:
        return
    from shapeviz.tracing.budget import human

    suggest = human(need * 1.25).replace(" ", "").replace("iB", "")
    raise ResourceLimitError(
        f"{what} would need about {human(need)}{f' ({parts})' if parts else ''}, over the memory limit of "
        f"{describe_limit(limit)}; raise the limit with --max-memory {suggest} (or {ENV}={suggest}) if this "
        "machine has it, or make the model, the batch or the data smaller")


def budget(model: Any, declared: Any, limit: int | None, what: str, *, dims: dict[str, int] | None = None,
           param_copies: float = 2.0, param_itemsize: int | None = None, bptt_copies: float = 1.0,
           extra: int = 0, extra_what: str = "") -> None:
    """Refuse ``what`` before it allocates when its estimate is over ``limit``: ``param_copies`` copies of
    the parameters (in ``param_itemsize`` bytes each, default the model's dtype), ``bptt_copies`` of the
    activations BPTT keeps for the ``declared`` input (the tracer's formula) and ``extra`` bytes.

    The estimate comes from a dry trace (nothing of the model's size is allocated). A declaration the
    model does not fit is left for the real run to report, with its own message."""
    if limit is None:
        return
    from shapeviz.errors import ShapeVizError as _Error
    from shapeviz.tracing.budget import TooLarge, dry_trace, estimate, human

    try:
        tr, _ = dry_trace(model, declared, dims=dims, backward=False)
    except TooLarge:
        raise
    except _Error:
        return
    est = estimate(tr)
    itemsize = param_itemsize or (est.param_bytes // est.params if est.params else 4)
    params = est.params * itemsize * param_copies
    bptt = (est.bptt_bytes or 0) * bptt_copies
    parts = [f"{est.params:,} parameters: {human(params)}"]
    if bptt:
        parts.append(f"activations kept for BPTT: {human(bptt)}")
    if extra:
        parts.append(f"{extra_what or 'the data'}: {human(extra)}")
    refuse_over(int(params + bptt + extra), limit, what, "; ".join(parts))


def deep_budget(loaded: Any, declared: Any, sizes: dict[str, int], arrays: dict[str, Any] | None,
                path: str | None, limit: int | None) -> None:
    """``check --deep``: the checks run on a few samples, with the parameters in float64, their
    gradients, the optimizer's slots and the gradient check's copies (6 copies in all)."""
    if arrays is not None:
        declared = data_declaration(loaded.model, arrays, samples=4)
        sizes = {}
    elif declared is None:
        return
    budget(loaded.model, declared, limit, "check --deep", dims=sizes, param_copies=6, param_itemsize=8,
           bptt_copies=2, extra=data_bytes(arrays), extra_what="the data")


def data_declaration(model: Any, arrays: dict[str, Any], samples: int | None = None) -> Any:
    """The input shapes of an .npz's arrays (x, or x and x_dec; a graph model's named after its inputs),
    as declarations; ``samples`` rows of them. None when an input's array is missing (the graph's own
    declarations are used then, and the missing array is reported where the arrays are read)."""
    if hasattr(model, "input_names"):
        names = list(model.input_names)
        if any(n not in arrays for n in names):
            return None
    else:
        names = ["x", "x_dec"] if getattr(model, "kind", "") == "encoder_decoder" and "x_dec" in arrays else ["x"]
    shapes = []
    for name in names:
        shape = tuple(int(d) for d in arrays[name].shape)
        if samples is not None and shape:
            shape = (min(shape[0], samples), *shape[1:])
        shapes.append(shape)
    return shapes[0] if len(shapes) == 1 else tuple(shapes)


def data_bytes(arrays: dict[str, Any] | None) -> int:
    return sum(int(getattr(a, "nbytes", 0)) for a in (arrays or {}).values())
