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
        provenance: where sizes in ``dims`` come from, ``{"T": "the model's Input layer 'ids'"}``
            (messages say it; by default "the given sizes").
        note: what the front end verified, for the report to print ("numpy twin matches torch: max
            rel err 3e-7"), or None.
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
    provenance: dict[str, str] = field(default_factory=dict)
    note: str | None = None


def default_inputs(model: Model) -> Any:
    """The input declaration a built model implies, or None: ``model.inputs``' declarations, such as
    ``(B, T)`` ids for an Embedding model, ``(B, T, F)`` (``(T, B, F)`` time-major) for a recurrent one,
    ``(B, F)`` for one-to-one and one-to-many; a tuple for several inputs."""
    if not model.built:
        return None
    specs = model.inputs
    if not specs or any(not spec.ids and spec.features is None for spec in specs):
        return None
    declared = tuple(spec.declaration() for spec in specs)
    return declared[0] if len(declared) == 1 else declared
