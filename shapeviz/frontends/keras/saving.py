"""Writing a trained twin back to Keras: the ``.keras`` file it came from, with new weights.

Every member of the original archive is written back byte for byte (``config.json``,
``metadata.json``, ...) except ``model.weights.h5``, whose datasets get the twin's weights in place
(same groups, names and shapes), so Keras loads the file as it loaded the original.
"""

from __future__ import annotations

import io
import zipfile
from typing import IO, Any

import numpy as np

from shapeviz.atomic import atomic_write
from shapeviz.core.model import register_keras_writer
from shapeviz.errors import ShapeVizError
from shapeviz.frontends.keras.files import h5py_module


def save_keras(model: Any, path: Any) -> None:
    """Write ``model``'s weights into a copy of the ``.keras`` file it was imported from, at ``path``
    (atomically: a temporary file, then a rename).

    Raises:
        ShapeVizError: the model was not imported from a ``.keras`` file (shapeviz writes no Keras
            config of its own), or its weights no longer fit the file's.
    """
    source = getattr(model, "_keras_source", None)
    if source is None:
        raise ShapeVizError(f"cannot save model {model.name!r} as .keras: it was not imported from a Keras model "
                            "(shapeviz.from_keras or a .keras MODEL)")
    if source.fmt != "keras" or not source.archive:
        what = {"h5": "a legacy .h5 file", "json": "an architecture-only .json file",
                "live": "a live Keras model"}.get(source.fmt, source.fmt)
        raise ShapeVizError(f"cannot save model {model.name!r} as .keras: it was imported from {what} "
                            f"({source.where}); save_keras writes the trained weights into the .keras file the "
                            "model came from (save the Keras model as .keras and import that)")
    h5py = h5py_module()
    buffer = io.BytesIO(source.archive["model.weights.h5"])
    with h5py.File(buffer, "r+") as f:
        for layer in model.layers:
            weights = layer.get_weights() if layer.built else []
            paths = source.paths.get(layer.name, [])
            if len(weights) != len(paths):
                raise ShapeVizError(f"cannot save model {model.name!r} as .keras: layer {layer.name!r} has "
                                    f"{len(weights)} weight arrays, the file has {len(paths)} for it")
            for p, w in zip(paths, weights):
                dataset = f[p]
                if dataset.shape != w.shape:
                    raise ShapeVizError(f"cannot save model {model.name!r} as .keras: weight {p} has shape "
                                        f"{dataset.shape} in the file, {w.shape} in layer {layer.name!r}")
                dataset[...] = np.asarray(w, dtype=dataset.dtype)
    weights_blob = buffer.getvalue()

    def write(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as out:
            for name, data in source.archive.items():
                out.writestr(name, weights_blob if name == "model.weights.h5" else data)

    atomic_write(path, write)


register_keras_writer(save_keras)  # Model.save_keras calls it (shapeviz.hooks names this module)
