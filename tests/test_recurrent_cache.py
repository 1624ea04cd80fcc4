"""Every recurrent layer: backward only reads its cache, and caches of two passes are independent."""

import numpy as np
import pytest
from recurrent_harness import B, H, T, make_layer

from shapeviz.core.gru import GRU
from shapeviz.core.lstm import LSTM
from shapeviz.core.simple_rnn import SimpleRNN


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU], ids=lambda c: c.__name__)
def test_backward_leaves_the_cache_intact_and_caches_are_independent(cls):
    # backward may be run again on a cache (the cache's per-step buffers are only read),
    # and a second forward does not disturb the cache of the first
    layer, x = make_layer(cls, {"return_sequences": True, "dropout": True})
    dy = np.random.default_rng(0).normal(size=(B, T, H))
    _, cache1 = layer.forward(x, training=True, rng=np.random.default_rng(1))
    layer.zero_grad()
    dx1 = layer.backward(dy, cache1)
    grads1 = {k: g.copy() for k, g in layer.grads.items()}
    layer.forward(x[::-1].copy(), training=True, rng=np.random.default_rng(2))
    layer.zero_grad()
    np.testing.assert_array_equal(layer.backward(dy, cache1), dx1)
    for k, g in layer.grads.items():
        np.testing.assert_array_equal(g, grads1[k])
