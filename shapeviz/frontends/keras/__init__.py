"""The Keras front end: a Keras model file (``.keras``, legacy ``.h5``, ``model.to_json()`` ``.json``)
or a live Keras model, read without importing Keras, as an exact shapeviz twin.

:func:`load` is the front end (``shapeviz report model.keras``); :func:`from_keras` the Python call.
What is supported is the converter registry (:data:`~.registry.CONVERTERS`); anything else stops the
import with every problem listed at once (:class:`~.registry.KerasImportError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shapeviz.frontends.base import Loaded
from shapeviz.frontends.keras.registry import CONVERTERS, KerasImportError, supported

__all__ = ["load", "from_keras", "KerasImportError", "CONVERTERS", "supported", "is_keras_file"]

#: the suffixes a Keras model file has (a .json only when its content is a Keras config)
SUFFIXES = (".keras", ".h5", ".hdf5")


def is_keras_file(source: Any) -> bool:
    """Whether ``source`` names a Keras model file: ``.keras``/``.h5``, or a ``.json`` holding a Keras
    config (a shapeviz spec is also ``.json``: the content tells them apart)."""
    if not isinstance(source, str):
        return False
    suffix = Path(source).suffix.lower()
    if suffix in SUFFIXES:
        return True
    if suffix == ".json":
        from shapeviz.frontends.keras.files import looks_like_keras_json
        return looks_like_keras_json(source)
    return False


def is_live_keras(source: Any) -> bool:
    """A Keras model object (found by its class's module, without importing Keras)."""
    module = type(source).__module__ or ""
    return module.startswith(("keras", "tf_keras", "tensorflow")) and hasattr(source, "get_config") \
        and hasattr(source, "get_weights")


def _read(source: Any) -> Any:
    from shapeviz.frontends.keras import files
    return files.read_live(source) if not isinstance(source, str) else files.read(source)


def load(source: Any) -> Loaded:
    """The front end: the twin of the Keras model ``source`` names, with its input declarations."""
    from shapeviz.frontends.keras.declare import declarations
    from shapeviz.frontends.keras.model import build

    read = _read(source)
    model, facts = build(read)
    model._keras_source = read  # what save_keras writes back into
    inputs, dims, roles, provenance = declarations(facts["inputs"], model)
    version = f"Keras {read.keras_version}" if read.keras_version else "an unknown Keras version"
    what = {"keras": "a .keras file", "h5": "a legacy HDF5 file", "json": "an architecture-only JSON file",
            "live": "a live model"}[read.fmt]
    label = f"{read.where} ({what} saved by {version}" + \
        (", weights freshly initialised)" if read.weights is None else ")")
    return Loaded(model, label, inputs=inputs, dims=dims, roles=roles, provenance=provenance,
                  loss=_known_loss(read.loss))


def _known_loss(loss: Any) -> Any:
    """The compiled loss, when it is one shapeviz has by that name (Keras's names are shapeviz's);
    else None, and the command's --loss or its default applies."""
    from shapeviz.core import losses
    from shapeviz.errors import ShapeVizError

    if not isinstance(loss, str):
        return None
    try:
        losses.get(loss)
    except ShapeVizError:
        return None
    return loss


def from_keras(path_or_model: Any) -> Any:
    """The shapeviz twin of a Keras model: a ``.keras``/``.h5``/``.json`` path or a live Keras model
    (read through its ``get_config()`` and ``get_weights()`` only).

    Returns:
        A shapeviz :class:`~shapeviz.core.sequential.Sequential` or
        :class:`~shapeviz.core.functional.Functional` with the Keras weights.

    Raises:
        KerasImportError: a layer, option or graph shapeviz cannot reproduce exactly (every one listed).
    """
    import os
    if isinstance(path_or_model, os.PathLike):
        path_or_model = os.fspath(path_or_model)
    return load(path_or_model).model
