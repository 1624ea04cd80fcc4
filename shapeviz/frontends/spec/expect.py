"""The expectations of a spec: ``[expect]``, the shapes named layers (or the output) must have."""

from __future__ import annotations

from typing import Any

from shapeviz.frontends.spec.builder import Builder, closest, one_of
from shapeviz.frontends.spec.schema import TABLE


def read_expect(b: Builder, value: Any) -> dict[str, str]:
    """``[expect]``: ``{"output" | "labels" | a layer name or path: shape}``, each layer one the model has."""
    known = ["output", "labels", *b.names]
    b.typed(value, ("expect",), TABLE)
    for key in value:
        if key not in known and key not in ("y", "outputs") and not _is_path(b, key):
            raise b.error(("expect", key), f"the model has no layer {key!r}{closest(key, known)}; "
                                           f"expected 'output', 'labels' or a layer name: "
                                           f"{one_of(list(b.names))}")
    table = b.table(value, ("expect",), list(value), "expect")
    return {key: b.shape(text, ("expect", key)) for key, text in table.items()}


def _is_path(b: Builder, key: str) -> bool:
    """``bidirectional_1/forward_simple_rnn_1``: a layer path as the tracer writes it."""
    parts = key.split("/")
    return len(parts) > 1 and all(p in b.names for p in parts)
