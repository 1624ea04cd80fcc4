"""Embedding: lookup, scatter-add gradient (vs np.add.at), mask from ids, errors."""

import numpy as np
import pytest
from helpers import check_layer_grads

from shapeviz.core.embedding import Embedding, scatter_add_rows
from shapeviz.errors import CheckpointError, ConfigError, InputError

V, E = 7, 3
IDS = np.array([
    [1, 3, 3, 6],
    [0, 0, 2, 1],
    [6, 3, 1, 0],
])  # repeated ids, both ends of the vocabulary, padding zeros


def make_layer(**kwargs):
    layer = Embedding(V, E, dtype="float64", **kwargs)
    layer.build(IDS.shape, np.random.default_rng(0))
    return layer


@pytest.mark.parametrize("mask_zero", [False, True])
def test_gradients(mask_zero):
    layer = make_layer(mask_zero=mask_zero)
    check_layer_grads(lambda: layer.forward(IDS), layer.backward, layer)


def test_backward_returns_none_and_accumulates():
    layer = make_layer()
    y, cache = layer.forward(IDS)
    dy = np.ones_like(y)
    assert layer.backward(dy, cache) is None
    counts = np.bincount(IDS.ravel(), minlength=V)[:, None]  # how often each id occurs
    np.testing.assert_array_equal(layer.grads["embeddings"], np.broadcast_to(counts, (V, E)))
    layer.backward(dy, cache)  # a second backward adds, it does not overwrite
    np.testing.assert_array_equal(layer.grads["embeddings"], 2 * np.broadcast_to(counts, (V, E)))
    layer.zero_grad()
    assert not layer.grads["embeddings"].any()


def test_reference_values():
    layer = make_layer()
    table = np.arange(V * E, dtype=np.float64).reshape(V, E) / 10
    layer.set_weights([table])
    y = layer(np.array([[2, 0], [6, 2]]))
    np.testing.assert_array_equal(y, [[[0.6, 0.7, 0.8], [0.0, 0.1, 0.2]],
                                      [[1.8, 1.9, 2.0], [0.6, 0.7, 0.8]]])


def test_shapes_dtype_weights():
    layer = Embedding(20, 5, name="emb")
    y = layer(np.zeros((2, 9), dtype=np.int32))
    assert y.shape == (2, 9, 5) and y.dtype == np.float32
    (table,) = layer.get_weights()
    assert table.shape == (20, 5) and np.abs(table).max() <= 0.05  # Keras's uniform(-0.05, 0.05)
    assert layer.count_params() == 100
    with pytest.raises(CheckpointError, match=r"'emb' \(embedding\) weight 'embeddings' has shape \(20, 5\), "
                                              r"got an array of shape \(5, 20\)"):
        layer.set_weights([np.zeros((5, 20))])
    assert Embedding(4, 2, embeddings_initializer="zeros")(np.zeros((1, 1), dtype=int)).sum() == 0


def test_compute_mask():
    assert make_layer().compute_mask(IDS) is None
    np.testing.assert_array_equal(make_layer(mask_zero=True).compute_mask(IDS), IDS != 0)


def test_mask_reaches_the_recurrent_layer_in_a_sequential():
    from shapeviz.core.sequential import Sequential
    from shapeviz.core.simple_rnn import SimpleRNN

    model = Sequential([Embedding(V, E, mask_zero=True), SimpleRNN(2)], dtype="float64", seed=0)
    _, cache = model.forward(IDS)
    np.testing.assert_array_equal(cache.masks[0], IDS != 0)
    # trailing padding does not change the last output: the RNN carries h over masked steps
    ids = np.array([[1, 3, 0, 0]])
    np.testing.assert_array_equal(model(ids), model(ids[:, :2]))
    assert not np.array_equal(model(ids), model(ids[:, :1]))


# -- the scatter-add --------------------------------------------------------------

def test_scatter_add_matches_add_at_exactly():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, size=2000)  # every id repeated many times
    rows = rng.normal(size=(2000, 16))
    fast, slow = np.zeros((60, 16)), np.zeros((60, 16))
    scatter_add_rows(fast, ids, rows)
    np.add.at(slow, ids, rows)
    np.testing.assert_array_equal(fast, slow)  # same order of additions from zero: bit-identical


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_add_accumulates_like_add_at(dtype):
    rng = np.random.default_rng(2)
    ids = np.array([4, 0, 4, 4, 9, 0])
    rows = rng.normal(size=(6, 5)).astype(dtype)
    start = rng.normal(size=(10, 5)).astype(dtype)
    fast, slow = start.copy(), start.copy()
    scatter_add_rows(fast, ids, rows)
    np.add.at(slow, ids, rows)
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast, slow, rtol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(fast[[1, 2, 3, 5, 6, 7, 8]], start[[1, 2, 3, 5, 6, 7, 8]])  # untouched rows


def test_scatter_add_edge_cases():
    table = np.ones((3, 2))
    scatter_add_rows(table, np.zeros(0, dtype=int), np.zeros((0, 2)))
    np.testing.assert_array_equal(table, 1.0)
    scatter_add_rows(table, [2, 2], np.array([[1.0, 2.0], [3.0, 4.0]]))  # not an ndarray: the np.add.at path
    np.testing.assert_array_equal(table, [[1, 1], [1, 1], [5, 7]])


class Duck:
    """A stand-in for the tracer's symbolic array: it has a shape and a dtype, and numpy reaches
    its values only through ``__array_function__``/``__array_ufunc__`` (results stay Ducks)."""

    def __init__(self, values):
        self.values = np.asarray(values)
        self.shape = self.values.shape
        self.dtype = self.values.dtype

    def reshape(self, *shape):
        return Duck(self.values.reshape(*shape))

    @staticmethod
    def _unwrap(a):
        return a.values if isinstance(a, Duck) else a

    def __array_function__(self, func, types, args, kwargs):
        result = func(*map(self._unwrap, args), **{k: self._unwrap(v) for k, v in kwargs.items()})
        return Duck(result) if isinstance(result, np.ndarray) else result

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*map(self._unwrap, inputs), **kwargs)


def test_symbolic_ids_dispatch_and_skip_the_value_check():
    layer = make_layer(name="emb")
    with pytest.raises(InputError, match=r"ids in \[0, 7\)"):
        layer.forward(np.array([[0, 7]]))
    # a symbolic array has no values to check; the lookup and the scatter-add reach its protocols
    y, cache = layer.forward(Duck(np.array([[0, 6]])))
    assert isinstance(y, Duck) and y.shape == (1, 2, E)
    np.testing.assert_array_equal(y.values[0], layer.params["embeddings"][[0, 6]])
    layer.zero_grad()
    layer.backward(Duck(np.ones((1, 2, E))), cache)
    assert layer.grads["embeddings"][[0, 6]].sum() == 2 * E and layer.grads["embeddings"].sum() == 2 * E
    with pytest.raises(InputError, match=r"expects integer token ids, got dtype float64"):
        layer.forward(Duck(np.zeros((1, 2))))  # dtype and rank are still checked


# -- errors -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32, bool])
def test_non_integer_ids(dtype):
    layer = Embedding(V, E, name="emb")
    with pytest.raises(InputError, match=rf"layer 'emb' \(embedding\) expects integer token ids, got dtype "
                                         rf"{np.dtype(dtype).name} with shape \(3, 4\): an Embedding takes ids in "
                                         rf"\[0, 7\).*ids.astype\(int\)"):
        layer.forward(IDS.astype(dtype))


@pytest.mark.parametrize("ids, found, hint", [
    ([[0, 7, 3]], "from 0 to 7", "input_dim must be at least 8"),
    ([[-1, 2, 3]], "from -1 to 3", "negative ids are not allowed"),
    ([[100, 2, 3]], "from 2 to 100", "input_dim must be at least 101"),
])
def test_ids_out_of_range(ids, found, hint):
    layer = Embedding(V, E, name="emb")
    with pytest.raises(InputError, match=rf"'emb' \(embedding\) expects ids in \[0, 7\) \(input_dim=7\), "
                                         rf"got ids {found}: {hint}"):
        layer.forward(np.array(ids))


@pytest.mark.parametrize("shape", [(4,), (2, 4, 1)])
def test_wrong_rank(shape):
    layer = Embedding(V, E, name="emb")
    with pytest.raises(InputError, match=rf"'emb' \(embedding\) expects integer ids of rank 2 \(B, T\), "
                                         rf"got rank {len(shape)}"):
        layer.forward(np.zeros(shape, dtype=int))


@pytest.mark.parametrize("kwargs, message", [
    ({"input_dim": 0, "output_dim": 3}, r"`input_dim`, expected a positive integer, got 0"),
    ({"input_dim": 10, "output_dim": 2.0}, r"`output_dim`, expected a positive integer, got 2.0"),
    ({"input_dim": 10, "output_dim": 3, "embeddings_initializer": "normal"}, r"Embedding '.*': received an invalid value for `embeddings_initializer`, expected one of .*, got 'normal'"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Embedding(**kwargs)
