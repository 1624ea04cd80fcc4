"""Back to torch: the twin's weights as a state_dict that loads (strictly) into the module it came from."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from shapeviz.errors import CheckpointError
from shapeviz.frontends.torch.mapper import Weights


class TorchSource:
    """What a twin remembers of its torch module: the module, how each twin layer's weights map to its
    state_dict keys, the verification note, and how torch names the layers.

    Attributes:
        module: the user's module (its weights are not changed by training the twin).
        weights: one :class:`~shapeviz.frontends.torch.mapper.Weights` per mapped module.
        note: ``"numpy twin matches torch: max rel err 3e-7"``, or None when not verified.
        notes: twin layer name -> how torch reads it (``"layer 1, backward direction"``).
    """

    def __init__(self, module: torch.nn.Module, weights: list[Weights], note: str | None,
                 notes: dict[str, str]) -> None:
        self.module = module
        self.weights = weights
        self.note = note
        self.notes = notes

    def __deepcopy__(self, memo: dict) -> "TorchSource":
        return self  # it holds no weights of the twin (layers are found by name): a copy of the twin shares it

    @staticmethod
    def _finder(model: Any) -> Any:
        layers: dict[str, Any] = {}

        def walk(layer: Any) -> None:
            layers.setdefault(layer.name, layer)
            for sub in layer.sublayers():
                walk(sub)
        for layer in model.layers:
            walk(layer)
        return layers.__getitem__

    def load(self, model: Any) -> None:
        """Copy the module's current weights into ``model`` (the twin)."""
        layer_of = self._finder(model)
        for w in self.weights:
            state = {k: v.detach().cpu().numpy() for k, v in w.module.state_dict().items()}
            w.load(state, layer_of)

    def state_dict(self, model: Any) -> "OrderedDict[str, torch.Tensor]":
        """``model``'s (the twin's) weights under the module's own state_dict keys, in its order and dtype."""
        layer_of = self._finder(model)
        mine: dict[str, np.ndarray] = {}
        for w in self.weights:
            for key, value in w.export(layer_of).items():
                mine[f"{w.prefix}.{key}" if w.prefix else key] = value
        out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        for key, current in self.module.state_dict().items():
            if key in mine:
                value = np.ascontiguousarray(mine.pop(key))
                if tuple(value.shape) != tuple(current.shape):
                    raise CheckpointError(f"torch state_dict key {key!r}: the twin has shape {value.shape}, the module "
                                          f"{tuple(current.shape)}")
                out[key] = torch.from_numpy(value.copy()).to(current.dtype)
            else:  # a buffer or a module the forward never calls: kept as it is
                out[key] = current.detach().clone()
        if mine:
            raise CheckpointError(f"the twin has weights for {sorted(mine)}, which the module's state_dict lacks")
        return out


def to_torch_state_dict(model: Any) -> "OrderedDict[str, torch.Tensor]":
    source = getattr(model, "torch_source", None)
    if source is None:
        from shapeviz.errors import ConfigError
        raise ConfigError(f"{model.summary_name()} was not imported from torch (shapeviz.from_torch or a "
                          "build() returning an nn.Module): it has no torch state_dict layout")
    return source.state_dict(model)
