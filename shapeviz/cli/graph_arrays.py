"""The arrays of an .npz for a graph model: named after its inputs and outputs.

Keys: one array per input under the input's name (``source``, ``target``); the targets under ``y``
for a one-output model, else under each output's name (``dec``; ``enc_1`` for ``enc:1``, which
np.savez cannot take as a keyword); an optional mask per input under ``mask_<input>`` (``mask`` for
a one-input model); validation arrays under the same keys with ``_val`` after them
(``source_val``, ``y_val``). A one-input, one-output graph also reads the plain ``x`` and ``y``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from shapeviz.core.output_losses import log_name
from shapeviz.errors import ShapeVizError


class GraphArrays(NamedTuple):
    x: Any  # a dict by input name
    y: Any  # one array, or a dict by output name
    mask: Any  # None, one array, or a dict by input name
    validation: Any  # None or (x, y[, mask]) in the same forms


def is_graph(model: Any) -> bool:
    return hasattr(model, "input_names") and hasattr(model, "output_tensors")


def expected_keys(model: Any) -> list[str]:
    """The keys the .npz must hold, in order: the inputs, then the targets."""
    outputs = ["y"] if model.single_output else [log_name(n) for n in model.output_names]
    return list(model.input_names) + outputs


def _input_key(model: Any, name: str, arrays: dict, suffix: str = "") -> str | None:
    if name + suffix in arrays:
        return name + suffix
    if len(model.input_names) == 1 and "x" + suffix in arrays:
        return "x" + suffix
    return None


def _output_key(model: Any, name: str, arrays: dict, suffix: str = "") -> str | None:
    for key in ((["y"] if model.single_output else []) + [name, log_name(name)]):
        if key + suffix in arrays:
            return key + suffix
    return None


def _mask_key(model: Any, name: str, arrays: dict, suffix: str = "") -> str | None:
    for key in [f"mask_{name}"] + (["mask"] if len(model.input_names) == 1 else []):
        if key + suffix in arrays:
            return key + suffix
    return None


def graph_arrays(model: Any, arrays: dict[str, Any], path: str) -> GraphArrays:
    """The model's x, y, mask and validation data out of ``arrays`` (an .npz's contents).

    Raises:
        ShapeVizError: an input or a target is missing, listing the keys expected and those held.
    """
    losses = getattr(model.loss, "losses", None)
    needed = [n for i, n in enumerate(model.output_names) if losses is None or losses[i] is not None]
    missing = [n for n in model.input_names if _input_key(model, n, arrays) is None]
    missing += [("y" if model.single_output else log_name(n)) for n in needed
                if _output_key(model, n, arrays) is None]
    if missing:
        raise ShapeVizError(
            f"{path!r}: {model.summary_name()} expects arrays named after its inputs and outputs: "
            f"{', '.join(expected_keys(model))} (optionally mask_<input>, and <key>_val for validation); "
            f"got no {', '.join(repr(m) for m in missing)} (it holds {', '.join(sorted(arrays)) or 'nothing'})")

    def read(suffix: str) -> tuple[Any, Any, Any] | None:
        xk = [_input_key(model, n, arrays, suffix) for n in model.input_names]
        yk = {n: _output_key(model, n, arrays, suffix) for n in needed}
        if any(k is None for k in xk) or any(k is None for k in yk.values()):
            return None
        x = {n: arrays[k] for n, k in zip(model.input_names, xk)}
        y: Any = arrays[next(iter(yk.values()))] if model.single_output else {n: arrays[k] for n, k in yk.items()}
        masks = {n: _mask_key(model, n, arrays, suffix) for n in model.input_names}
        mask: Any = None
        if any(k is not None for k in masks.values()):
            mask = {n: (None if k is None else arrays[k]) for n, k in masks.items()}
            if len(model.input_names) == 1:
                mask = next(iter(mask.values()))
        return x, y, mask

    train = read("")
    assert train is not None  # the keys were checked above
    val = read("_val")
    validation = None if val is None else (val if val[2] is not None else val[:2])
    return GraphArrays(train[0], train[1], train[2], validation)
