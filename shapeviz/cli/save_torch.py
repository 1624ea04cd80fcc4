"""`shapeviz train --save-torch trained.pt`: the trained twin's weights as the torch module's state_dict."""

from __future__ import annotations

from typing import Any, Callable

import click

from shapeviz.cli.common import output_path
from shapeviz.errors import ShapeVizError


def save_torch_option(fn: Callable) -> Callable:
    return click.option("--save-torch", "save_torch", type=click.Path(dir_okay=False), default=None,
                        help="For a torch model (build() returns an nn.Module): save the trained weights as its "
                             "state_dict (.pt), which module.load_state_dict loads.")(fn)


def check_save_torch(path: str | None) -> None:
    """Checked before any work: a .pt/.pth path in a folder that exists."""
    if path:
        output_path("--save-torch", path, ("pt", "pth"))


def save_torch(model: Any, path: str | None) -> str:
    """Write ``model.to_torch_state_dict()`` to ``path`` (atomically); the sentence saying so, or ''."""
    if not path:
        return ""
    if getattr(model, "torch_source", None) is None:
        raise ShapeVizError(f"--save-torch: {model.summary_name()} is not a torch model (its build() does not "
                            "return an nn.Module), so it has no state_dict to save")
    import io

    import torch

    from shapeviz.cli.common import write_file

    buffer = io.BytesIO()
    torch.save(model.to_torch_state_dict(), buffer)
    write_file(output_path("--save-torch", path, ("pt", "pth")), buffer.getvalue())
    return f"; torch state_dict in {path}"
