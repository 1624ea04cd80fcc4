"""What SimpleRNN, LSTM and GRU share: output shapes per mode and the errors for bad input and options.

One test per behaviour, run on each cell: the time loop, the checks and their messages live in
``shapeviz.core.recurrent``, so the three must agree word for word.
"""

from __future__ import annotations

import numpy as np
import pytest

from shapeviz.core.gru import GRU
from shapeviz.core.lstm import LSTM
from shapeviz.core.simple_rnn import SimpleRNN
from shapeviz.errors import ConfigError, InputError

B, T, F, H = 3, 5, 4, 3
CELLS = [SimpleRNN, LSTM, GRU]


def re_shape(shape: tuple) -> str:
    return "\\(" + ", ".join(str(d) for d in shape) + (",\\)" if len(shape) == 1 else "\\)")


def built(cls: type, **kwargs: object):
    layer = cls(H, name="rnn", **kwargs)
    layer.build((T, B, F) if kwargs.get("time_major") else (B, T, F))
    return layer


def x(*shape: int) -> np.ndarray:
    return np.zeros(shape or (B, T, F), dtype=np.float32)


@pytest.fixture(params=CELLS, ids=lambda c: c.__name__)
def cell(request: pytest.FixtureRequest) -> type:
    return request.param


def test_output_shapes_for_each_mode(cell: type) -> None:
    n = len(cell.state_names)
    assert cell(H)(x()).shape == (B, H)
    assert cell(H, return_sequences=True)(x()).shape == (B, T, H)
    y, *states = cell(H, return_sequences=True, return_state=True)(x())
    assert y.shape == (B, T, H) and [s.shape for s in states] == [(B, H)] * n
    assert cell(H, return_sequences=True, time_major=True)(x(T, B, F)).shape == (T, B, H)
    y, *states = cell(H, return_state=True, time_major=True)(x(T, B, F))
    assert y.shape == (B, H) and [s.shape for s in states] == [(B, H)] * n


def test_wrong_rank(cell: type) -> None:
    with pytest.raises(InputError, match=rf"layer 'rnn' \({cell.kind}\) expects input of rank 3 \(B, T, F\), "
                                         r"got rank 2 with shape \(3, 4\)"):
        built(cell)(x(B, F))
    with pytest.raises(InputError, match=r"expects input of rank 3 \(T, B, F\), got rank 4"):
        built(cell, time_major=True)(x(T, B, F, 1))


def test_wrong_features_for_built_weights(cell: type) -> None:
    with pytest.raises(InputError, match=rf"'rnn' \({cell.kind}\) was built for 4 input features "
                                         rf"\(kernel shape \(4, {cell.n_gates * H}\)\), got input of shape \(3, 5, 6\)"):
        built(cell)(x(B, T, 6))


@pytest.mark.parametrize("bad_shape", [(B, T + 1), (T, B), (B, T, 1), (B,)])
def test_mask_wrong_shape(cell: type, bad_shape: tuple) -> None:
    with pytest.raises(InputError, match=rf"'rnn' \({cell.kind}\): the mask must have shape \(B, T\) = \(3, 5\), "
                                         rf"got {re_shape(bad_shape)}"):
        built(cell)(x(), mask=np.ones(bad_shape, dtype=bool))


def test_time_major_mask_is_still_batch_first(cell: type) -> None:
    layer = built(cell, time_major=True)
    layer(x(T, B, F), mask=np.ones((B, T), dtype=bool))
    with pytest.raises(InputError, match=r"mask must have shape \(B, T\) = \(3, 5\), got \(5, 3\)"):
        layer(x(T, B, F), mask=np.ones((T, B), dtype=bool))


@pytest.mark.parametrize("bad_shape", [(B, H + 1), (B + 1, H), (H,)])
def test_initial_state_wrong_shape(cell: type, bad_shape: tuple) -> None:
    names = cell.state_names
    for i, name in enumerate(names):  # each state in turn is the wrong one
        states = [np.zeros((B, H), np.float32) for _ in names]
        states[i] = np.zeros(bad_shape, np.float32)
        with pytest.raises(InputError, match=rf"'rnn' \({cell.kind}\): initial state '{name}' must have shape "
                                             rf"\(B, H\) = \(3, 3\), got {re_shape(bad_shape)}"):
            built(cell)(x(), initial_state=states)


def test_initial_state_wrong_count(cell: type) -> None:
    names = cell.state_names
    n = len(names)
    h = np.zeros((B, H), np.float32)
    listed = ", ".join(f"'{s}'" for s in names)
    with pytest.raises(InputError, match=rf"'rnn' \({cell.kind}\) takes {n} initial state\(s\) \[{listed}\], "
                                         rf"got {n + 1}"):
        built(cell)(x(), initial_state=[h] * (n + 1))
    if n > 1:  # one bare array where a list of states is needed
        with pytest.raises(InputError, match=rf"takes {n} initial state\(s\) \[{listed}\], got 1"):
            built(cell)(x(), initial_state=h)


@pytest.mark.parametrize("kwargs, message", [
    ({"units": 0}, r"invalid value for `units`, expected a positive integer, got 0"),
    ({"units": 2.5}, r"invalid value for `units`, expected a positive integer, got 2.5"),
    ({"units": 3, "dropout": 1.0}, r"`dropout`, expected a float in \[0, 1\), got 1.0"),
    ({"units": 3, "recurrent_dropout": -0.1}, r"`recurrent_dropout`, expected a float in \[0, 1\), got -0.1"),
])
def test_bad_options(cell: type, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cell(**kwargs)


def test_dropout_in_training_needs_rng(cell: type) -> None:
    with pytest.raises(ConfigError, match=rf"'rnn' \({cell.kind}\) uses dropout in training: "
                                          r"pass rng=np.random.default_rng\(seed\)"):
        built(cell, dropout=0.2)(x(), training=True)
    with pytest.raises(ConfigError, match=r"uses dropout in training: pass rng"):
        built(cell, recurrent_dropout=0.2)(x(), training=True)
    built(cell, dropout=0.2)(x())  # inference: no mask drawn, no rng needed
