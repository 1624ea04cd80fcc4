"""What a spec says about its input: the input shapes, the sizes of named dims and their roles."""

from __future__ import annotations

from typing import Any

from shapeviz.frontends.spec.builder import Builder, closest, describe, one_of
from shapeviz.frontends.spec.schema import INT, STRING
from shapeviz.tracing.context import ROLES


def read_inputs(b: Builder, value: Any, kind: str) -> str | tuple[str, str]:
    """``input``: one shape, or two (source, decoder inputs) for an encoder_decoder model."""
    if kind != "encoder_decoder":
        return b.shape(value, ("input",))
    if not (isinstance(value, list) and len(value) == 2):
        raise b.error(("input",), 'expected an array of two shapes (source, decoder inputs) such as '
                                  f'["(B, T_in, F)", "(B, T_out, V)"], got {describe(value)}')
    return (b.shape(value[0], ("input", 0)), b.shape(value[1], ("input", 1)))


def read_dims(b: Builder, value: Any) -> dict[str, int]:
    """``[dims]``: a positive size for each name, every name one that a shape of the spec uses."""
    b.table(value, ("dims",), list(value) if isinstance(value, dict) else [], "dims")
    out = {}
    for name, size in value.items():
        path = ("dims", name)
        b.typed(size, path, INT)
        if size <= 0:
            raise b.error(path, f"expected a positive integer, got {describe(size)}")
        if name not in b.used_dims:
            raise b.error(path, f"no shape in this spec uses the dim {name!r}"
                                f"{closest(name, list(b.used_dims))}; the dims used are: "
                                f"{one_of(sorted(b.used_dims)) or 'none'}")
        b.size(name, size, path, f"{name} = {size}")
        out[name] = size
    return out


def read_roles(b: Builder, value: Any) -> dict[str, str]:
    """``[roles]``: a role (batch, time, ...) for each name, every name one that a shape of the spec uses."""
    b.table(value, ("roles",), list(value) if isinstance(value, dict) else [], "roles")
    for name, role in value.items():
        path = ("roles", name)
        b.typed(role, path, STRING)
        if role not in ROLES:
            raise b.error(path, f"expected a role, one of: {one_of(ROLES)}, got {describe(role)}"
                                f"{closest(role, ROLES)}")
        if name not in b.used_dims:
            raise b.error(path, f"no shape in this spec uses the dim {name!r}"
                                f"{closest(name, list(b.used_dims))}; the dims used are: "
                                f"{one_of(sorted(b.used_dims)) or 'none'}")
    return dict(value)
