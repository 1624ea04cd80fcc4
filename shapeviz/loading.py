"""Finding the model a command names: a spec file, ``path/to/file.py:attr`` or ``package.module:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapeviz.core.model import Model
from shapeviz.errors import ShapeVizError


class ModelLoadError(ShapeVizError):
    """The model reference cannot be turned into a model (missing file, attribute, an error in
    the user's code, or something that is not a model)."""


@dataclass
class Loaded:
    """A model and the declarations that came with it (a spec gives them; Python code does not)."""

    model: Model
    source: str
    inputs: Any = None
    dims: dict[str, int] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)
    labels: str | None = None
    mask: str | None = None
    loss: Any = None
    spec: Any = None
    roles: dict[str, str] = field(default_factory=dict)


def load_model(ref: str) -> Loaded:
    """Load ``ref``: a ``.toml``/``.json`` spec (no code runs), ``file.py:attr`` or ``module:attr``
    (the user's code runs, as pytest runs a test file). ``attr`` is a model or a callable that
    returns one when called without arguments."""
    path = Path(ref)
    if path.suffix.lower() in (".toml", ".json"):
        from shapeviz.spec import load_spec

        spec = load_spec(path)
        return Loaded(spec.model, str(path), spec.inputs, dict(spec.dims), dict(spec.expect), spec.labels,
                      spec.mask, spec.loss, spec, dict(spec.roles))
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise ModelLoadError(
            f"cannot tell what model {ref!r} is: give a spec file (model.toml, model.json), "
            "path/to/file.py:build or package.module:build"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file(Path(target), ref)
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as error:
            raise ModelLoadError(f"{ref}: no module named {error.name!r} (is it installed or on PYTHONPATH?)") from None
        except Exception as error:  # noqa: BLE001 - the user's code failed while importing
            raise ModelLoadError(f"{ref}: importing {target} raised {type(error).__name__}: {error}") from None
    if not hasattr(module, attr):
        names = sorted(n for n in vars(module) if not n.startswith("_"))
        raise ModelLoadError(f"{ref}: {target} has no attribute {attr!r} (it has: {', '.join(names[:12])})")
    obj = getattr(module, attr)
    if callable(obj) and not isinstance(obj, Model):
        try:
            obj = obj()
        except Exception as error:  # noqa: BLE001 - the user's code failed
            raise ModelLoadError(f"{ref}: calling {attr}() raised {type(error).__name__}: {error}") from None
    if not isinstance(obj, Model):
        raise ModelLoadError(
            f"{ref}: {attr} gave a {type(obj).__name__}, not a shapeviz model (Sequential, OneToMany or "
            "EncoderDecoder)"
        )
    return Loaded(obj, ref)


def _load_file(path: Path, ref: str) -> Any:
    if not path.exists():
        raise ModelLoadError(f"{ref}: there is no file {str(path)!r}")
    if not path.is_file():
        raise ModelLoadError(f"{ref}: {str(path)!r} is not a file")
    name = f"_shapeviz_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{ref}: cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the user's code failed
        raise ModelLoadError(f"{ref}: running {path.name} raised {type(error).__name__}: {error}") from None
    finally:
        sys.path.pop(0)
    return module


def default_inputs(model: Model) -> Any:
    """The input declaration a built model implies, or None: ``(B, T)`` ids for an Embedding model,
    ``(B, T, F)`` for a recurrent one, ``(B, F)`` for one-to-one and one-to-many."""
    layers = model.layers
    first = layers[0] if layers else None
    if first is None or not model.built:
        return None
    if model.kind == "encoder_decoder":
        enc, dec = model.encoder[0].input_features, model.decoder[0].input_features  # type: ignore[attr-defined]
        return (f"(B, T_in, {enc})", f"(B, T_out, {dec})")
    if first.kind == "embedding":
        return "(B, T)"
    features = first.input_features
    if features is None:
        subs = first.sublayers()
        features = subs[0].input_features if subs else None
    if features is None:
        return None
    if model.mode in ("one-to-one", "one-to-many"):
        return f"(B, {features})"
    return f"(B, T, {features})"
