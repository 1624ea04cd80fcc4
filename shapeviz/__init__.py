"""shapeviz: show and verify the (batch, seq_len, features) dimensions of recurrent networks."""

from shapeviz.core.activation import Activation
from shapeviz.core.bidirectional import Bidirectional
from shapeviz.core.dense import Dense
from shapeviz.core.dropout import Dropout
from shapeviz.core.embedding import Embedding
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.functional import Functional
from shapeviz.core.graph import Input
from shapeviz.core.gru import GRU
from shapeviz.core.inputs import InputSpec
from shapeviz.core.lstm import LSTM
from shapeviz.core.masking import Masking
from shapeviz.core.merge import Add, Average, Concatenate, Multiply, Stack, Subtract
from shapeviz.core.model import Model
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.optimizers import SGD, Adagrad, Adam, RMSprop
from shapeviz.core.pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from shapeviz.core.repeat_vector import RepeatVector
from shapeviz.core.reshape import Flatten, Permute, Reshape
from shapeviz.core.select import Index, LastStep, Steps, TakeStep
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.core.time_distributed import TimeDistributed
from shapeviz.spec import Spec, SpecError, load_spec
from shapeviz.tracing import Trace, trace
from shapeviz.errors import (CheckpointError, ConfigError, InputError, NonFiniteError, RenderError, ShapeError,
                             ShapeVizError)
from shapeviz.tracing.records import register_html
from shapeviz import train  # noqa: F401  (on import it registers Model.fit, evaluate, predict, save/load_weights)


def _trace_html(tr: Trace) -> str:
    """Jupyter's display of a Trace; rich and the renderers load on the first display, not on import."""
    from shapeviz.render.jupyter import trace_html
    return trace_html(tr)


register_html(_trace_html)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Bidirectional", "Dense", "Dropout", "Embedding", "GRU", "LSTM", "Masking", "SimpleRNN",
    "Add", "Subtract", "Multiply", "Average", "Concatenate", "Stack",
    "RepeatVector", "TimeDistributed", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Activation", "Flatten",
    "Reshape", "Permute", "Index", "LastStep", "TakeStep", "Steps",
    "Sequential", "OneToMany", "EncoderDecoder", "InputSpec", "Input", "Model", "Functional",
    "SGD", "Adagrad", "RMSprop", "Adam",
    "trace", "Trace", "load_spec", "Spec", "SpecError",
    "ShapeVizError", "ConfigError", "InputError", "CheckpointError", "NonFiniteError", "ShapeError",
    "RenderError",
]
