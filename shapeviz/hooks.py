"""Where the package root names the parts that sit above the core, so the core never imports them.

``Model.fit`` is implemented by :mod:`shapeviz.train`, which imports the core; a Trace's notebook
display by :mod:`shapeviz.render`, which imports the tracer. The core and the tracer only ask this
module for the provider of a role ("trainer", "html"); ``shapeviz/__init__.py`` says which module
that is, by name, and the module is imported on first use, when it registers itself (see
``shapeviz.core.model.register_trainer`` and ``shapeviz.tracing.records.register_html``). Nothing here
imports numpy, so ``shapeviz --help`` stays fast.
"""

from __future__ import annotations

import importlib

_PROVIDERS: dict[str, str] = {}


def provide(role: str, module: str) -> None:
    """Name the module that implements ``role``; it registers itself when imported."""
    _PROVIDERS[role] = module


def load(role: str) -> bool:
    """Import the provider of ``role`` (a no-op once imported); False if none was named."""
    module = _PROVIDERS.get(role)
    if module is None:
        return False
    importlib.import_module(module)
    return True
