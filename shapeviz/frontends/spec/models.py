"""The model of a spec: its ``[model]`` table, its sections of layers, its loss, optimizer and mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from shapeviz.core import losses as _losses
from shapeviz.core.model import MODES, Model
from shapeviz.frontends.spec.builder import Builder, closest, describe, one_of
from shapeviz.frontends.spec.layers import build_layer, build_layers
from shapeviz.frontends.spec.schema import BOOL, CROSSENTROPY, DTYPES, MODEL_KINDS, NUMBER, STRING


def build_model(b: Builder, cls: type[Model], kind: str, data: dict, table: dict,
                sections: Sequence[str]) -> tuple[Model, dict[str, str] | None]:
    """The model ``[model]`` describes, with the layers of its ``sections`` (``layers``, ``head``...),
    and for a graph model its input declarations by name (None for the others)."""
    options = b.options(table, ("model",), MODEL_KINDS[kind][1])
    options.pop("kind")
    if "dtype" in options and options["dtype"] not in DTYPES:
        raise b.error(("model", "dtype"), f"expected one of: {one_of(DTYPES)}, got "
                                          f"{describe(options['dtype'])}{closest(options['dtype'], DTYPES)}")
    if options.get("seed", 0) < 0:
        raise b.error(("model", "seed"), f"expected a non-negative integer, got {describe(options['seed'])}")
    if "name" not in options and b.suffix is not None:
        options["name"] = Path(b.source).stem
    if kind == "graph":
        from shapeviz.frontends.spec.graphs import build_graph
        return build_graph(b, data, options)
    if kind == "sequential":
        parts: dict[str, Any] = {"layers": build_layers(b, data["layers"], ("layers",))}
    elif kind == "one_to_many":
        parts = {"layers": build_layers(b, data["layers"], ("layers",)),
                 "head": build_layer(b, data["head"], ("head",))}
    else:
        parts = {"encoder": build_layers(b, data["encoder"], ("encoder",)),
                 "decoder": build_layers(b, data["decoder"], ("decoder",)),
                 "head": build_layer(b, data["head"], ("head",))}
    return b.construct(lambda: cls(**parts, **options), ("model",), table, scope=()), None


def compile_model(b: Builder, model: Model, data: dict) -> str | None:
    """Compile the model when the spec has a loss; returns the loss name."""
    if "loss" not in data:
        if "optimizer" in data:
            raise b.error(("optimizer",), 'an optimizer needs a loss: add one, e.g. loss = "mse"')
        return None
    loss = read_loss(b, data["loss"])
    optimizer, options = read_optimizer(b, data.get("optimizer", "adam"))
    b.construct(lambda: model.compile(loss, optimizer, **options), ("optimizer",),
                data["optimizer"] if isinstance(data.get("optimizer"), dict) else {})
    return getattr(model.loss, "name", None)


def read_loss(b: Builder, value: Any) -> Any:
    """``loss``: a name, or a table ``{name, from_logits}`` for a cross-entropy."""
    path = ("loss",)
    if isinstance(value, dict):
        b.table(value, path, ["name", "from_logits"], "a loss", ("name",))
        name = b.typed(value["name"], path + ("name",), STRING)
        if "from_logits" not in value:
            return b.construct(lambda: _losses.get(name), path + ("name",), {})
        from_logits = b.typed(value["from_logits"], path + ("from_logits",), BOOL)
        if name.lower() not in CROSSENTROPY:
            raise b.error(path + ("from_logits",), f"from_logits applies to {one_of(sorted(CROSSENTROPY))}, "
                                                   f"not to {name!r}")
        if name.lower() == "binary_crossentropy":
            return _losses.BinaryCrossentropy(from_logits=from_logits)
        return _losses.SoftmaxCrossEntropy(from_logits=from_logits, name=name.lower())
    if not isinstance(value, str):
        raise b.error(path, f"expected a loss name such as \"mse\" or a table {{name = ..., from_logits = ...}}, "
                            f"got {describe(value)}")
    return b.construct(lambda: _losses.get(value), path, {})


def read_optimizer(b: Builder, value: Any) -> tuple[str, dict[str, Any]]:
    """``optimizer``: a name, or a table ``{name, learning_rate, ...}``; returns the name and the options."""
    path = ("optimizer",)
    if isinstance(value, dict):
        b.table(value, path, list(value), "an optimizer", ("name",))
        name = b.typed(value["name"], path + ("name",), STRING)
        options = {k: v for k, v in value.items() if k != "name"}
        for key, option in options.items():
            if not (NUMBER.test(option) or BOOL.test(option) or option is None):
                raise b.error(path + (key,), f"expected a number or a boolean, got {describe(option)}")
        return name, options
    if not isinstance(value, str):
        raise b.error(path, f"expected an optimizer name such as \"adam\" or a table "
                            f"{{name = ..., learning_rate = ...}}, got {describe(value)}")
    return value, {}


def check_mode(b: Builder, data: dict, model: Model, kind: str) -> str:
    """The model's sequence mode, which the spec's ``mode`` (when given) must name."""
    actual = model.mode
    if "mode" not in data:
        return actual
    mode = b.typed(data["mode"], ("mode",), STRING)
    if mode not in MODES:
        raise b.error(("mode",), f"unknown mode {mode!r}{closest(mode, MODES)}; expected one of: "
                                 f"{one_of(MODES)}")
    if mode != actual:
        hint = ""
        if kind == "sequential" and {mode, actual} == {"many-to-one", "synced many-to-many"}:
            hint = "; return_sequences of the last recurrent layer decides between the two"
        raise b.error(("mode",), f"the spec says {mode!r}, but the model it describes is {actual!r}{hint}")
    return mode
