"""Weights (and optimizer state, and training metadata) to and from ``.npz`` files, atomically.

File layout (every entry a plain array, readable with ``np.load(path, allow_pickle=False)``):

- ``lstm_1/kernel``, ... — one array per parameter, keyed by its path at save time;
- ``__format__`` — the format tag; ``__paths__`` and ``__kinds__`` — the parameter paths
  and their layers' kinds, in ``model.parameters()`` order;
- ``__optimizer__/name``, ``__optimizer__/iterations``, ``__optimizer__/{i}/{slot}`` — the
  optimizer state of parameter number ``i`` (optional);
- ``__meta__/{key}`` — metadata such as the completed epoch count (optional).

Matching is by position, not by name: parameter ``i`` of the model takes array ``i`` of
the file. Auto names (``lstm_1``) depend on how many layers a process created before,
so the same architecture built twice gets different names; positions are stable. The
layer kind, the weight key (``kernel``) and the shape must agree at every position, so a
checkpoint of another architecture is refused; errors name the model's layer, the weight,
both shapes, and the name the weight was saved under.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from shapeviz.atomic import atomic_write

from shapeviz.errors import CheckpointError

FORMAT = "shapeviz-weights-1"
_OPT = "__optimizer__/"
_META = "__meta__/"


def _model_params(model: Any) -> list[tuple[str, Any, str]]:
    params = model.parameters()
    if not model.built:
        raise CheckpointError(
            f"{model.summary_name()} is not built, so it has no weights yet: call model.build(input_shape) "
            "or run it once on data first"
        )
    return params


def save_weights(model: Any, path: str | os.PathLike, *, optimizer: Any = None,
                 metadata: dict[str, Any] | None = None) -> None:
    """Write the model's weights to ``path`` (an ``.npz`` file, the name is used as given).

    The file is written to a temporary file in the same directory, flushed and fsynced,
    then moved over ``path`` with ``os.replace``: a crash or error mid-write leaves the old
    file intact.

    Args:
        model: a built model.
        path: the destination.
        optimizer: also store this optimizer's state (for resuming training).
        metadata: small values (numbers, arrays of numbers) stored under ``__meta__/``.
    """
    params = _model_params(model)
    paths = [p for p, _, _ in params]
    if len(set(paths)) != len(paths):
        dup = sorted({p for p in paths if paths.count(p) > 1})
        raise CheckpointError(f"{model.summary_name()}: parameters {dup} share a path; give the layers distinct names")
    arrays: dict[str, np.ndarray] = {
        "__format__": np.array(FORMAT),
        "__paths__": np.array(paths),
        "__kinds__": np.array([layer.kind for _, layer, _ in params]),
    }
    for p, layer, key in params:
        arrays[p] = layer.params[key]
    if optimizer is not None:
        state = optimizer.state_dict()
        arrays[_OPT + "name"] = np.array(state["name"])
        arrays[_OPT + "iterations"] = np.array(state["iterations"], dtype=np.int64)
        for i, p in enumerate(paths):
            for slot, value in state["slots"].get(p, {}).items():
                arrays[f"{_OPT}{i}/{slot}"] = value
    for key, value in (metadata or {}).items():
        arrays[_META + key] = np.asarray(value)
    _atomic_savez(Path(path), arrays)


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {str(path)!r}: the file does not exist")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{str(path)!r} is not an .npz checkpoint (not a zip archive); is it truncated?")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise CheckpointError(
                f"{str(path)!r} holds pickled Python objects; refusing to load them (allow_pickle=False)"
            ) from None
        raise CheckpointError(f"{str(path)!r} is not a readable .npz checkpoint: {e}") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"{str(path)!r} is not a readable .npz checkpoint: {e}") from None


def load_weights(model: Any, path: str | os.PathLike, *, optimizer: Any = None,
                 validate: Callable[[dict[str, np.ndarray]], list[str]] | None = None) -> dict[str, np.ndarray]:
    """Load weights saved by :func:`save_weights` into a built model, all or nothing.

    Args:
        model: a built model of the same architecture (parameters matched by position).
        path: the ``.npz`` file.
        optimizer: if given and the file holds optimizer state, restore it too.
        validate: checks the metadata (``__meta__/`` keys without the prefix) and returns
            the problems it found; any problem refuses the file before anything changes.

    Returns:
        The metadata stored with the weights (``__meta__/`` keys without the prefix).

    Raises:
        CheckpointError: a missing, corrupt or foreign file; a missing or extra weight; a
            kind, key or shape that does not fit. Nothing is changed in the model then.
    """
    path = Path(path)
    data = _read(path)
    where = f"checkpoint {str(path)!r}"
    if "__format__" not in data or str(data["__format__"]) != FORMAT or "__paths__" not in data:
        raise CheckpointError(f"{where} was not written by shapeviz save_weights (no {FORMAT!r} format tag)")
    saved_paths = [str(p) for p in data["__paths__"].reshape(-1)]
    saved_kinds = [str(k) for k in data.get("__kinds__", np.array([""] * len(saved_paths))).reshape(-1)]
    params = _model_params(model)
    problems: list[str] = []
    values: list[np.ndarray] = []
    for i, (p, layer, key) in enumerate(params):
        what = f"layer {layer.name!r} weight {key!r}"
        if i >= len(saved_paths):
            problems.append(f"{what} (shape {layer.params[key].shape}) has no array in the checkpoint, which holds "
                            f"{len(saved_paths)} weights for the model's {len(params)}")
            continue
        sp, skind = saved_paths[i], saved_kinds[i]
        skey = sp.rsplit("/", 1)[-1]
        if sp not in data:
            problems.append(f"{what}: the checkpoint lists {sp!r} but holds no array for it")
            continue
        arr = data[sp]
        if skey != key or (skind and skind != layer.kind):
            problems.append(f"{what} ({layer.kind}, shape {layer.params[key].shape}) meets {sp!r} ({skind}, shape "
                            f"{arr.shape}) at position {i}: the checkpoint is from another architecture")
            continue
        if arr.shape != layer.params[key].shape:
            problems.append(f"{what}: the model's shape is {layer.params[key].shape}, the checkpoint's is "
                            f"{arr.shape} (saved as {sp!r})")
            continue
        if arr.dtype.kind not in "fiu":
            problems.append(f"{what}: the checkpoint's array has dtype {arr.dtype}, not numbers (saved as {sp!r})")
            continue
        values.append(arr)
    for sp in saved_paths[len(params):]:
        shape = data[sp].shape if sp in data else "?"
        problems.append(f"the checkpoint has an extra weight {sp!r} (shape {shape}) the model has no parameter for")
    opt_state = _optimizer_state(data, params, optimizer, problems) if optimizer is not None else None
    meta = {k[len(_META):]: v for k, v in data.items() if k.startswith(_META)}
    if validate is not None:
        problems.extend(validate(meta))
    if problems:
        shown = problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else [])
        raise CheckpointError(f"{where} does not fit {model.summary_name()}:\n  " + "\n  ".join(shown))
    for (_, layer, key), arr in zip(params, values):
        layer.params[key][...] = arr
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)
    return meta


def _optimizer_state(data: dict[str, np.ndarray], params: list, optimizer: Any,
                     problems: list[str]) -> dict[str, Any] | None:
    """The optimizer state of ``data`` keyed by the *model's* paths, or None if none was saved.

    Every field is checked, so that a damaged file is refused before anything is loaded: the
    name and step count are scalars, every slot is one the optimizer has, of the weight's
    shape, and once the optimizer has stepped every weight has all its slots (a missing one
    would silently restart that weight's moments from zero).
    """
    keys = [k for k in data if k.startswith(_OPT)]
    if not keys:
        return None
    count = len(problems)
    name_arr = data.get(_OPT + "name")
    if name_arr is None or name_arr.shape != () or name_arr.dtype.kind != "U":
        problems.append(f"the optimizer state has {'no name' if name_arr is None else 'a malformed name'} "
                        f"({_OPT}name), expected one of text such as {optimizer.name!r}")
        return None
    name = str(name_arr)
    if name != optimizer.name:
        problems.append(f"the checkpoint holds {name} optimizer state, the model is compiled with {optimizer.name}")
        return None
    it = data.get(_OPT + "iterations")
    iterations = 0
    if it is None or it.shape != () or it.dtype.kind not in "iu" or int(it) < 0:
        got = "none" if it is None else f"{it.dtype} of shape {it.shape}" if it.shape != () or it.dtype.kind not in "iu" \
            else str(int(it))
        problems.append(f"the optimizer state's step count ({_OPT}iterations) must be an integer >= 0, got {got}")
    else:
        iterations = int(it)
    slots: dict[str, dict[str, np.ndarray]] = {}
    for key in keys:
        if key in (_OPT + "name", _OPT + "iterations"):
            continue
        parts = key.split("/")
        if len(parts) != 3 or not parts[1].isdigit():
            problems.append(f"unknown optimizer entry {key!r}: expected {_OPT}<weight number>/<slot>")
            continue
        i, slot, value = int(parts[1]), parts[2], data[key]
        if i >= len(params):
            problems.append(f"optimizer state {key!r} belongs to weight {i}, the model has {len(params)}")
            continue
        p, layer, wkey = params[i]
        if slot not in optimizer.slots:
            expected = f"only {', '.join(repr(s) for s in optimizer.slots)}" if optimizer.slots else "none"
            problems.append(f"layer {layer.name!r} weight {wkey!r}: the checkpoint has an extra {name} slot {slot!r} "
                            f"({key!r}); {name} keeps {expected}")
            continue
        if value.shape != layer.params[wkey].shape:
            problems.append(f"layer {layer.name!r} weight {wkey!r}: optimizer slot {slot!r} has shape {value.shape}, "
                            f"the weight {layer.params[wkey].shape}")
            continue
        if value.dtype.kind not in "fiu":
            problems.append(f"layer {layer.name!r} weight {wkey!r}: optimizer slot {slot!r} has dtype {value.dtype}, "
                            "not numbers")
            continue
        slots.setdefault(p, {})[slot] = value.astype(layer.params[wkey].dtype)
    if iterations > 0 or slots:  # once stepped, every weight has every slot
        for i, (p, layer, wkey) in enumerate(params):
            have = slots.get(p, {})
            missing = [s for s in optimizer.slots if s not in have and f"{_OPT}{i}/{s}" not in data]
            if missing:
                problems.append(f"layer {layer.name!r} weight {wkey!r}: the checkpoint has no {name} slot "
                                f"{', '.join(repr(s) for s in missing)} ({_OPT}{i}/{missing[0]}) after "
                                f"{iterations} steps")
    if len(problems) > count:
        return None
    return {"name": name, "iterations": iterations, "slots": slots}
