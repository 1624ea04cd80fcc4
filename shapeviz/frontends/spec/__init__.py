"""Declarative model specs: a TOML or JSON file that describes a model, its input and the shapes to expect.

A spec is data only: layers come from a fixed table of kinds (:data:`LAYER_KINDS`), built
through their public constructors; nothing is imported or evaluated by name. The format is
documented in ``docs/specs.md``; a short one::

    mode = "many-to-one"
    input = "(B, T)"
    labels = "(B,)"
    loss = "binary_crossentropy"

    [model]
    kind = "sequential"
    seed = 0

    [dims]
    B = 32
    T = 80

    [[layers]]
    kind = "embedding"
    input_dim = 20000
    output_dim = 128

    [[layers]]
    kind = "lstm"
    units = 128

    [[layers]]
    kind = "dense"
    units = 1
    activation = "sigmoid"

Every schema error is a :class:`SpecError` that names the file, the key path
(``layers[1].units``), the line for TOML and JSON where it can be found, what was
expected and what was found.

The package, by concern: :mod:`.reading` reads and decodes the file, :mod:`.lines` finds the
line of a key, :mod:`.schema` holds the value types and the layer and model kinds,
:mod:`.builder` the state and checks shared by the parts, which are built by :mod:`.layers`,
:mod:`.models` (with the loss, the optimizer and the mode), :mod:`.inputs` (input shapes,
dims and roles) and :mod:`.expect`; :mod:`.document` puts the whole spec together.
"""

from __future__ import annotations

import os
from pathlib import Path

from shapeviz.frontends.base import Loaded
from shapeviz.frontends.spec.document import Spec, build_spec, load_spec
from shapeviz.frontends.spec.schema import LAYER_KINDS, MODEL_KINDS, TOP_LEVEL, SpecError

__all__ = ["Spec", "SpecError", "load_spec", "build_spec", "load", "LAYER_KINDS", "MODEL_KINDS", "TOP_LEVEL"]


def load(source: str | os.PathLike[str]) -> Loaded:
    """The spec front end: read the spec file ``source`` (no code runs) and return its model with
    everything it declares (inputs, dims, expectations, labels, mask, loss, roles).

    Raises:
        SpecError: the file cannot be read or does not describe a valid model.
    """
    path = Path(source)
    spec = load_spec(path)
    return Loaded(spec.model, str(path), spec.inputs, dict(spec.dims), dict(spec.expect), spec.labels,
                  spec.mask, spec.loss, spec, dict(spec.roles))
