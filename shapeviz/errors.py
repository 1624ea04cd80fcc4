"""Exceptions a user can cause: each message says what was wrong and where."""


class ShapeVizError(Exception):
    """Base class of every error shapeviz raises on purpose."""


class ConfigError(ShapeVizError, ValueError):
    """A layer, model or optimizer was given an invalid option."""


class InputError(ShapeVizError, ValueError):
    """Data fed to a layer or model does not fit it (rank, size, dtype, values)."""


class CheckpointError(ShapeVizError):
    """A checkpoint file cannot be read or does not fit the model."""


class NonFiniteError(ShapeVizError, FloatingPointError):
    """A loss or gradient became NaN or infinite during training."""
