"""A test fixture: write a Keras-2-style legacy .h5 model file (tf.keras 2.x's dialect) from a Keras 3
model, since Keras 2 itself cannot be installed beside Keras 3 here.

The model_config is rewritten the way Keras 2 wrote it: ``{"class_name", "config"}`` without
``module``/``registered_name``, dtype ``"float32"``, ``batch_input_shape``, the recurrent layers'
``time_major`` and ``implementation``, Embedding's ``input_length``, functional ``inbound_nodes`` as
nested lists ``[[name, node_index, tensor_index, kwargs], ...]`` with an RNN's initial states as
extra inputs and no mask ops (Keras 2 propagated masks implicitly), and keras_version "2.x". The
weights go under ``model_weights/<layer>`` with a ``weight_names`` attribute, as Keras 2 saved them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

DROP = {"quantization_config", "lora_rank", "lora_alpha", "zero_output_for_mask", "optional", "seed"}
RECURRENT = {"LSTM", "GRU", "SimpleRNN"}


def _initializer(value: Any) -> Any:
    if isinstance(value, dict) and "class_name" in value:
        return {"class_name": value["class_name"], "config": value.get("config", {})}
    return value


def layer_config(class_name: str, config: dict, overrides: dict | None = None) -> dict:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in DROP:
            continue
        if key == "dtype":
            out[key] = "float32"
        elif key == "batch_shape":
            out["batch_input_shape"] = value
        elif key.endswith("_initializer"):
            out[key] = _initializer(value)
        elif key in ("layer", "backward_layer") and isinstance(value, dict):
            out[key] = {"class_name": value["class_name"],
                        "config": layer_config(value["class_name"], value["config"])}
        else:
            out[key] = value
    if class_name in RECURRENT:
        out.setdefault("time_major", False)
        out.setdefault("implementation", 2)
    if class_name == "Embedding":
        out.setdefault("input_length", None)
    out.update((overrides or {}).get(config.get("name"), {}))
    return out


def _ref(value: Any) -> list:
    name, node, index = value["config"]["keras_history"]
    return [name, node, index, {}]


def keras2_config(model: Any, overrides: dict | None = None) -> dict:
    """Model ``model``'s config in Keras 2's dialect; ``overrides`` per layer name replace keys."""
    top = json.loads(model.to_json())
    cfg = top["config"]
    if top["class_name"] == "Sequential":
        layers = [{"class_name": e["class_name"], "config": layer_config(e["class_name"], e["config"], overrides)}
                  for e in cfg["layers"]]
        new_cfg = {"name": cfg["name"], "layers": layers}
    else:
        layers = []
        for e in cfg["layers"]:
            if e["class_name"] in ("NotEqual", "Any"):
                continue  # Keras 2 recorded no mask ops
            nodes = []
            for node in e["inbound_nodes"]:
                first = node["args"][0]
                refs = [_ref(t) for t in first] if isinstance(first, list) else [_ref(first)]
                refs += [_ref(s) for s in node["kwargs"].get("initial_state", [])]
                nodes.append(refs)
            layers.append({"class_name": e["class_name"], "name": e["name"],
                           "config": layer_config(e["class_name"], e["config"], overrides), "inbound_nodes": nodes})

        def refs(value: list) -> list:
            return [list(v) for v in value] if value and isinstance(value[0], list) else [list(value)]
        new_cfg = {"name": cfg["name"], "layers": layers, "input_layers": refs(cfg["input_layers"]),
                   "output_layers": refs(cfg["output_layers"])}
    return {"class_name": "Sequential" if top["class_name"] == "Sequential" else "Functional", "config": new_cfg,
            "keras_version": "2.15.0", "backend": "tensorflow"}


def write_keras2_h5(path: Any, model: Any, overrides: dict | None = None) -> None:
    """Write ``model`` as Keras 2 would have saved it (``model.save("x.h5")`` in tf.keras 2.15)."""
    import h5py

    config = keras2_config(model, overrides)
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        group = f.create_group("model_weights")
        names = [layer.name for layer in model.layers]
        group.attrs["layer_names"] = np.array(names, dtype="S")
        group.attrs["keras_version"] = "2.15.0"
        group.attrs["backend"] = "tensorflow"
        for layer in model.layers:
            g = group.create_group(layer.name)
            weight_names = []
            for i, (variable, value) in enumerate(zip(layer.weights, layer.get_weights())):
                wname = f"{layer.name}/{variable.path.split('/', 1)[-1]}:0"
                g.create_dataset(wname, data=value)
                weight_names.append(wname)
            g.attrs["weight_names"] = np.array(weight_names, dtype="S")
