"""The converters, one module per family; importing this package registers them all."""

from shapeviz.frontends.torch.converters import functions, modules, packed, recurrent  # noqa: F401
