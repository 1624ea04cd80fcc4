"""The live front end: a shapeviz model object given directly (from Python) is its own source."""

from __future__ import annotations

from shapeviz.core.model import Model
from shapeviz.frontends.base import Loaded


def load(model: Model) -> Loaded:
    """``model`` itself, declaring nothing: its input comes from the caller, or from its built layers
    (:func:`~shapeviz.frontends.base.default_inputs`)."""
    return Loaded(model, model.summary_name())
