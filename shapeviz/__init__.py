"""shapeviz: show and verify the (batch, seq_len, features) dimensions of recurrent networks."""

from shapeviz.core.bidirectional import Bidirectional
from shapeviz.core.dense import Dense
from shapeviz.core.dropout import Dropout
from shapeviz.core.embedding import Embedding
from shapeviz.core.encoder_decoder import EncoderDecoder
from shapeviz.core.functional import Functional
from shapeviz.core.graph import Input
from shapeviz.core.gru import GRU
from shapeviz.core.lstm import LSTM
from shapeviz.core.masking import Masking
from shapeviz.core.model import Model
from shapeviz.core.one_to_many import OneToMany
from shapeviz.core.optimizers import SGD, Adagrad, Adam, RMSprop
from shapeviz.core.sequential import Sequential
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.spec import Spec, SpecError, load_spec
from shapeviz.tracing import Trace, trace
from shapeviz.errors import (CheckpointError, ConfigError, InputError, NonFiniteError, RenderError, ShapeError,
                             ShapeVizError)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Bidirectional", "Dense", "Dropout", "Embedding", "GRU", "LSTM", "Masking", "SimpleRNN",
    "Sequential", "OneToMany", "EncoderDecoder", "Input", "Model", "Functional",
    "SGD", "Adagrad", "RMSprop", "Adam",
    "trace", "Trace", "load_spec", "Spec", "SpecError",
    "ShapeVizError", "ConfigError", "InputError", "CheckpointError", "NonFiniteError", "ShapeError",
    "RenderError",
]
