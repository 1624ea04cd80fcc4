"""nn.Linear, nn.Embedding, nn.Dropout, the activation modules, nn.Flatten, nn.Identity."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch.nn as nn

from shapeviz.core.activation import Activation
from shapeviz.core.dense import Dense
from shapeviz.core.dropout import Dropout
from shapeviz.core.embedding import Embedding
from shapeviz.frontends.torch.converters.shared import flatten, last_axis_activation
from shapeviz.frontends.torch.mapper import Context, Weights
from shapeviz.frontends.torch.registry import converter


def _shared(ctx: Context, module: nn.Module, make: Any) -> Any:
    """The twin layer of ``module``, made on its first call: a module called twice shares its weights."""
    layer = ctx.module_layers.get(id(module))
    if layer is None:
        layer = ctx.module_layers[id(module)] = make()
    return layer


@converter(nn.Linear)
def linear(ctx: Context, node: Any, module: nn.Linear, x: Any) -> Any:
    x = ctx.tensor(x, "the input")
    if x.ndim not in (2, 3):
        raise ctx.fail(f"nn.Linear maps for inputs of rank 2 or 3, (B, F) or (B, T, F), got rank {x.ndim}")

    def make() -> Dense:
        layer = Dense(module.out_features, use_bias=module.bias is not None, name=ctx.unique(str(node.target)))

        name = layer.name

        def load(state: dict[str, np.ndarray], layer_of: Any) -> None:
            layer_of(name).set_weights([state["weight"].T] + ([state["bias"]] if module.bias is not None else []))

        def export(layer_of: Any) -> dict[str, np.ndarray]:
            w = layer_of(name).get_weights()
            return {"weight": w[0].T.copy(), **({"bias": w[1]} if module.bias is not None else {})}
        ctx.weights.append(Weights(str(node.target), module, load, export))
        return layer
    return _shared(ctx, module, make)(x)


@converter(nn.Embedding)
def embedding(ctx: Context, node: Any, module: nn.Embedding, x: Any) -> Any:
    x = ctx.tensor(x, "the input")
    for option, default in (("max_norm", None), ("scale_grad_by_freq", False), ("sparse", False)):
        if getattr(module, option) != default:
            raise ctx.fail(f"nn.Embedding's {option}={getattr(module, option)!r} has no twin; shapeviz maps "
                           f"num_embeddings, embedding_dim and padding_idx")
    if x.ndim != 2:
        raise ctx.fail(f"nn.Embedding maps for ids of rank 2 (B, T), got rank {x.ndim}")
    if x.node is not None and hasattr(x.node, "axis_names"):
        ctx.vocab[x.name] = module.num_embeddings

    def make() -> Embedding:
        layer = Embedding(module.num_embeddings, module.embedding_dim, padding_idx=module.padding_idx,
                          name=ctx.unique(str(node.target)))

        name = layer.name

        def load(state: dict[str, np.ndarray], layer_of: Any) -> None:
            layer_of(name).set_weights([state["weight"]])

        def export(layer_of: Any) -> dict[str, np.ndarray]:
            return {"weight": layer_of(name).get_weights()[0]}
        ctx.weights.append(Weights(str(node.target), module, load, export))
        return layer
    return _shared(ctx, module, make)(x)


@converter(nn.Dropout)
def dropout(ctx: Context, node: Any, module: nn.Dropout, x: Any) -> Any:
    x = ctx.tensor(x, "the input")
    if module.inplace:
        raise ctx.fail("nn.Dropout(inplace=True) has no twin: use inplace=False")
    return _shared(ctx, module, lambda: Dropout(module.p, name=ctx.unique(str(node.target))))(x)


@converter(nn.Identity)
def identity(ctx: Context, node: Any, module: nn.Module, x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


@converter(nn.ReLU, nn.Tanh, nn.Sigmoid)
def activation(ctx: Context, node: Any, module: nn.Module, x: Any) -> Any:
    x = ctx.tensor(x, "the input")
    if getattr(module, "inplace", False):
        raise ctx.fail(f"nn.{type(module).__name__}(inplace=True) has no twin: use inplace=False")
    name = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}[type(module)]
    return _shared(ctx, module, lambda: Activation(name, name=ctx.unique(str(node.target))))(x)


@converter(nn.Softmax, nn.LogSoftmax)
def softmax(ctx: Context, node: Any, module: nn.Module, x: Any) -> Any:
    name = "softmax" if isinstance(module, nn.Softmax) else "log_softmax"
    return last_axis_activation(ctx, name, x, module.dim, str(node.target))


@converter(nn.Flatten)
def flatten_module(ctx: Context, node: Any, module: nn.Flatten, x: Any) -> Any:
    return flatten(ctx, x, module.start_dim, module.end_dim, str(node.target))
