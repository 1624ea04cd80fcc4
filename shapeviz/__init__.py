"""shapeviz: show and verify the (batch, seq_len, features) dimensions of recurrent networks."""

from shapeviz.errors import ShapeVizError, ConfigError, InputError, CheckpointError, NonFiniteError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ShapeVizError",
    "ConfigError",
    "InputError",
    "CheckpointError",
    "NonFiniteError",
]
