"""Reading a Keras model without Keras: the three file formats and a live model's config and weights.

- ``.keras`` (Keras 3): a zip of ``config.json``, ``model.weights.h5`` and ``metadata.json``
  (``keras_version``). The weights file holds one group per layer, ``layers/<path>/vars/<i>``,
  whose ``vars`` group names the layer (attribute ``name``); sublayers (an RNN's ``cell``, a
  Bidirectional's ``forward_layer``/``backward_layer``, a TimeDistributed's ``layer``) are
  subgroups, read in Keras's own order.
- legacy ``.h5`` (Keras 2, tf.keras, and Keras 3's ``model.save("x.h5")``): the ``model_config``
  attribute (JSON) and ``model_weights/<layer>`` groups whose ``weight_names`` attribute lists the
  layer's weights in order.
- architecture-only JSON (``model.to_json()``): the config alone; weights are freshly initialised.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shapeviz.frontends.base import ModelLoadError

#: the command a missing h5py asks for
INSTALL = 'pip install "shapeviz[keras]"'
#: the order Keras 3 saves a layer's sublayers in (its own variables first)
_CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer")


@dataclass
class KerasSource:
    """A Keras model as read: its config, its weights per layer name, and where it came from.

    Attributes:
        config: the model's ``{"class_name": ..., "config": ...}``.
        weights: per layer name, its weights in Keras's order (``get_weights()`` of that layer);
            None for an architecture-only source.
        where: the file (or ``"the Keras model 'name'"`` for a live one), as messages name it.
        fmt: ``"keras"``, ``"h5"``, ``"json"`` or ``"live"``.
        keras_version: the version that saved it (``"3.15.1"``, ``"2.15.0"``), or None if unknown.
        paths: for a ``.keras`` file, per layer name the weight datasets' paths in the weights h5
            (what :mod:`.saving` overwrites).
        archive: for a ``.keras`` file, every member's bytes as read (what :mod:`.saving` writes
            back, with new weights in ``model.weights.h5``).
        loss: the loss the model was compiled with (``compile_config``, an .h5's
            ``training_config``), as Keras wrote it, or None.
    """

    config: dict
    weights: dict[str, list[np.ndarray]] | None
    where: str
    fmt: str
    keras_version: str | None = None
    paths: dict[str, list[str]] = field(default_factory=dict)
    archive: dict[str, bytes] = field(default_factory=dict, repr=False)
    loss: Any = None

    @property
    def keras2(self) -> bool:
        """Saved by Keras 2 / tf.keras (whose defaults and mask rules differ from Keras 3's)."""
        v = self.keras_version or ""
        return v.startswith(("1.", "2."))


def h5py_module() -> Any:
    """``h5py``, imported on first use, or a ModelLoadError that says how to install it."""
    try:
        import h5py
    except ImportError:
        raise ModelLoadError(f"reading Keras weights needs h5py, which is not installed: run {INSTALL}") from None
    return h5py


def _json(text: Any, where: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{where}: {what} is not valid JSON ({error})") from None


def _check_model_config(config: Any, where: str) -> dict:
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) \
            or not isinstance(config.get("config"), (dict, list)):
        got = type(config).__name__ if not isinstance(config, dict) else f"keys {sorted(config)[:8]}"
        raise ModelLoadError(f"{where}: expected a Keras model config with 'class_name' and 'config', got {got}")
    return config


def read(path: str) -> KerasSource:
    """The Keras model in ``path`` (``.keras``, ``.h5``/``.hdf5`` or a ``model.to_json()`` ``.json``)."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"{path}: there is no such file")
    if not p.is_file():
        raise ModelLoadError(f"{path}: expected a Keras model file, got a folder")
    suffix = p.suffix.lower()
    if suffix == ".keras":
        return read_keras_zip(path)
    if suffix in (".h5", ".hdf5"):
        return read_h5(path)
    if suffix == ".json":
        return read_json(path)
    raise ModelLoadError(f"{path}: expected a .keras, .h5 or .json Keras file, got {suffix or 'no suffix'}")


def read_json(path: str) -> KerasSource:
    """An architecture-only ``model.to_json()`` file: the config, no weights."""
    data = _json(Path(path).read_bytes(), path, "the file")
    version = data.get("keras_version") if isinstance(data, dict) else None
    return KerasSource(_check_model_config(data, path), None, path, "json", version)


def read_keras_zip(path: str) -> KerasSource:
    """A Keras 3 ``.keras`` zip: config.json, metadata.json and the weights in model.weights.h5."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ModelLoadError(f"{path}: expected a .keras file (a zip archive), got a file that is not a zip") from None
    with archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise ModelLoadError(f"{path}: a .keras file must hold config.json, this one holds {sorted(names)}")
        config = _check_model_config(_json(archive.read("config.json"), path, "config.json"), path)
        version = None
        if "metadata.json" in names:
            meta = _json(archive.read("metadata.json"), path, "metadata.json")
            version = meta.get("keras_version") if isinstance(meta, dict) else None
        if "model.weights.h5" not in names:
            raise ModelLoadError(f"{path}: a .keras file must hold model.weights.h5, this one holds {sorted(names)}")
        blob = archive.read("model.weights.h5")
        members = {n: archive.read(n) for n in archive.namelist()}
    h5py = h5py_module()
    weights: dict[str, list[np.ndarray]] = {}
    paths: dict[str, list[str]] = {}
    with h5py.File(io.BytesIO(blob), "r") as f:
        layers = f.get("layers")
        for key in (layers.keys() if layers is not None else []):
            group = layers[key]
            vars_group = group.get("vars")
            name = vars_group.attrs.get("name") if vars_group is not None else None
            if isinstance(name, bytes):
                name = name.decode()
            found = _walk(group, f"layers/{key}")
            weights[str(name or key)] = [np.array(f[q]) for q in found]
            paths[str(name or key)] = found
    loss = (config.get("compile_config") or {}).get("loss")
    return KerasSource(config, weights, path, "keras", version, paths, members, loss)


def _walk(group: Any, prefix: str) -> list[str]:
    """The dataset paths of one layer's weights in Keras's order: ``vars/0, vars/1, ...``, then the
    sublayers (cell, forward_layer, backward_layer, layer, then any others by name)."""
    out: list[str] = []
    vars_group = group.get("vars")
    if vars_group is not None:
        out += [f"{prefix}/vars/{k}" for k in sorted(vars_group.keys(), key=int)]
    children = [k for k in group.keys() if k != "vars" and hasattr(group[k], "keys")]
    children.sort(key=lambda k: (_CHILD_ORDER.index(k) if k in _CHILD_ORDER else len(_CHILD_ORDER), k))
    for k in children:
        out += _walk(group[k], f"{prefix}/{k}")
    return out


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def read_h5(path: str) -> KerasSource:
    """A legacy HDF5 model (Keras 2, tf.keras, or Keras 3's ``save("x.h5")``)."""
    h5py = h5py_module()
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise ModelLoadError(f"{path}: expected an HDF5 Keras model, cannot open it ({error})") from None
    with f:
        if "model_config" not in f.attrs:
            what = "a weights-only file (save_weights)" if "layer_names" in f.attrs else "no Keras model"
            raise ModelLoadError(f"{path}: expected a Keras model saved with model.save(), got {what}: it has no "
                                 "'model_config' attribute")
        config = _check_model_config(_json(_text(f.attrs["model_config"]), path, "model_config"), path)
        version = _text(f.attrs.get("keras_version"))
        training = f.attrs.get("training_config")
        loss = None
        if training is not None:
            try:
                loss = json.loads(_text(training)).get("loss")
            except (ValueError, AttributeError):
                loss = None
        group = f["model_weights"] if "model_weights" in f else None
        weights: dict[str, list[np.ndarray]] = {}
        if group is not None:
            for layer_name in (_text(n) for n in group.attrs.get("layer_names", [])):
                g = group[layer_name]
                weights[layer_name] = [np.array(g[_text(w)]) for w in g.attrs.get("weight_names", [])]
    return KerasSource(config, weights, path, "h5", version, loss=loss)


def read_live(model: Any) -> KerasSource:
    """A live Keras model, through ``get_config()`` and each layer's ``get_weights()`` only."""
    try:
        config = {"class_name": type(model).__name__, "config": model.get_config()}
        weights = {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers}
    except Exception as error:  # noqa: BLE001 - whatever the object raises, said with its name
        raise ModelLoadError(f"cannot read the Keras model {getattr(model, 'name', '?')!r}: {error}") from error
    if config["class_name"] not in ("Sequential", "Functional") and "input_layers" in config["config"]:
        config["class_name"] = "Functional"  # keras.Model(inputs, outputs) is a Functional
    # the version of the Keras that made the object: the one already imported (shapeviz imports none)
    version = getattr(sys.modules.get(type(model).__module__.split(".")[0]), "__version__", None)
    loss = getattr(model, "loss", None)
    return KerasSource(config, weights, f"the Keras model {model.name!r}", "live", version,
                       loss=loss if isinstance(loss, str) else None)


def looks_like_keras_json(path: str) -> bool:
    """Whether a ``.json`` file holds a Keras model (a top-level ``class_name`` with a ``config``, or
    a ``keras_version``) rather than a shapeviz spec (whose top level has ``model``, ``input`` ...)."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError, UnicodeDecodeError):
        return False  # the spec front end says what is wrong with it
    return isinstance(data, dict) and ("keras_version" in data or
                                       (isinstance(data.get("class_name"), str) and "config" in data))
