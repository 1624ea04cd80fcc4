"""What every front end returns: a model and the declarations that came with it (:class:`Loaded`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapeviz.core.model import Model
from shapeviz.errors import ShapeVizError


class ModelLoadError(ShapeVizError):
    """The model reference cannot be turned into a model (missing file, attribute, an error in
    the user's code, or something that is not a model)."""


@dataclass
class Loaded:
    """A model and the declarations that came with it (a spec gives them; Python code does not).

    Attributes:
        model: the model (built when the source built it).
        source: the source as messages name it: the file, ``file.py:build``, the model's name.
        inputs: the input declaration, ``"(B, T, 2)"`` (a pair for an encoder-decoder), or None.
        dims: sizes of named dims, ``{"B": 32}``.
        expect: expected shapes, ``{"output": "(B, 1)"}``.
        labels: the labels' shape, or None.
        mask: the mask's shape, or None.
        loss: the loss (name or object) the source declares, or None.
        spec: the :class:`~shapeviz.frontends.spec.Spec`, for a spec.
        roles: roles of named dims, ``{"T_in": "time"}``.
    """

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
