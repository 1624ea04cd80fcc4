"""The layers of a spec: ``[[layers]]``, ``head`` and the layers a ``bidirectional`` wraps."""

from __future__ import annotations

from typing import Any

from shapeviz.core.layer import Layer
from shapeviz.frontends.spec.builder import Builder, closest, one_of
from shapeviz.frontends.spec.lines import KeyPath
from shapeviz.frontends.spec.schema import ARRAY, LAYER, LAYER_KINDS, MULTI_INPUT_KINDS, STRING, TABLE


def names_given(sections: list[Any]) -> set[str]:
    """Every layer name a spec gives, in its sections and in the layers they wrap."""
    names: set[str] = set()
    todo = [item for section in sections for item in (section if isinstance(section, list) else [section])]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if isinstance(item.get("name"), str):
                names.add(item["name"])
            todo.extend(item.get(key) for key in ("layer", "backward_layer"))
    return names


def auto_name(b: Builder, kind: str) -> str:
    """``lstm_1``, ``lstm_2``... counted within this spec, so expectations can name them."""
    while True:
        b.counters[kind] = b.counters.get(kind, 0) + 1
        name = f"{kind}_{b.counters[kind]}"
        if name not in b.names and name not in b.given_names:
            return name


def build_layer(b: Builder, value: Any, path: KeyPath, inner: bool = False, *, name: str | None = None,
                name_path: KeyPath | None = None, graph: bool = False) -> Layer:
    """The layer the table at ``path`` describes (``inner``: one a ``bidirectional`` wraps, whose name may
    repeat its wrapper's); its name, given or made, is recorded with its path.

    A graph node gives the layer its ``name`` (written at ``name_path``), and only a graph node
    (``graph``) may hold a layer that merges several tensors."""
    b.typed(value, path, LAYER if inner else TABLE)
    if "kind" not in value:
        raise b.error(path, f"a layer needs the key 'kind', one of: {one_of(sorted(LAYER_KINDS))}; "
                            f"got only: {one_of(list(value)) or 'nothing'}")
    kind = b.typed(value["kind"], path + ("kind",), STRING)
    if kind not in LAYER_KINDS:
        raise b.error(path + ("kind",), f"unknown layer kind {kind!r}{closest(kind, sorted(LAYER_KINDS))}; "
                                        f"expected one of: {one_of(sorted(LAYER_KINDS))}")
    cls, types, required = LAYER_KINDS[kind]
    b.table(value, path, ["kind", "name", *types], f"a layer of kind {kind!r}", required)
    if kind in MULTI_INPUT_KINDS and not graph:
        raise b.error(path + ("kind",), f"a layer of kind {kind!r} merges several tensors: it is a node of a graph "
                                        'model ([model] kind = "graph"), which says what it reads')
    options = b.options(value, path, types)
    name_path = path + ("name",) if name_path is None else name_path
    if name is None:
        name = value.get("name")
    if name is not None:
        b.typed(name, name_path, STRING)
        if not name:
            raise b.error(name_path, "expected a non-empty string, got string ''")
        if not inner and name in b.names:
            raise b.error(name_path, f"the layer name {name!r} is already used by "
                                     f"{b.where(b.names[name])}; names must be unique")
    else:
        name = auto_name(b, kind)
    if kind == "bidirectional":
        options["layer"] = build_layer(b, value["layer"], path + ("layer",), inner=True)
        if "backward_layer" in value:
            options["backward_layer"] = build_layer(b, value["backward_layer"], path + ("backward_layer",),
                                                    inner=True)
        if isinstance(options.get("merge_mode"), str) and options["merge_mode"].lower() == "none":
            options["merge_mode"] = None
    if kind == "time_distributed":
        options["layer"] = build_layer(b, value["layer"], path + ("layer",))
    if kind == "dropout" and "noise_shape" in options:  # TOML has no null: "none" stands for None
        options["noise_shape"] = [None if isinstance(d, str) and d.lower() == "none" else d
                                  for d in options["noise_shape"]]
    layer = b.construct(lambda: cls(**options, name=name), path, value)
    b.names[layer.name] = path
    for sub in layer.sublayers():
        b.names.setdefault(sub.name, path)
    return layer


def build_layers(b: Builder, value: Any, path: KeyPath) -> list[Layer]:
    """The array of layers at ``path`` (at least one)."""
    b.typed(value, path, ARRAY)
    if not value:
        raise b.error(path, "expected at least one layer, got an empty array")
    return [build_layer(b, item, path + (i,)) for i, item in enumerate(value)]
