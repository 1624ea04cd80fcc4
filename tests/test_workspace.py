"""Workspace: large buffers are recycled only once nothing else refers to them."""

import copy
import pickle

import numpy as np

from shapeviz.core.lstm import LSTM
from shapeviz.core.workspace import MIN_BYTES, Workspace

BIG = (MIN_BYTES // 8 + 1,)  # float64 elements just over the threshold
LIKE = np.zeros(1)


def test_an_idle_buffer_is_handed_out_again():
    ws = Workspace()
    a = ws.empty(BIG, like=LIKE)
    address = a.ctypes.data
    del a
    assert ws.empty(BIG, like=LIKE).ctypes.data == address


def test_a_buffer_something_still_refers_to_is_never_reused():
    ws = Workspace(keep=2)
    a = ws.empty(BIG, like=LIKE)
    view = a[1:]  # a view keeps its base
    del a
    b = ws.empty(BIG, like=LIKE)
    assert not np.shares_memory(b, view)
    c = ws.empty(BIG, like=LIKE)  # both kept buffers are held: a fresh one, not kept
    assert not np.shares_memory(c, view) and not np.shares_memory(c, b)
    cache = {"buf": b}
    del b, c
    d = ws.empty(BIG, like=LIKE)
    assert not np.shares_memory(d, view) and not np.shares_memory(d, cache["buf"])


def test_small_arrays_other_dtypes_and_shapes_are_separate():
    ws = Workspace()
    small = ws.empty((4,), like=LIKE)
    assert small.shape == (4,) and ws._pools == {}
    a = ws.empty(BIG, like=LIKE, dtype=np.float32)
    assert a.dtype == np.float32
    del a
    assert ws.empty(BIG, like=LIKE).dtype == np.float64


def test_copies_and_pickles_start_empty():
    ws = Workspace()
    kept = ws.empty(BIG, like=LIKE)
    del kept
    for twin in (copy.deepcopy(ws), copy.copy(ws), pickle.loads(pickle.dumps(ws))):
        assert twin._pools == {} and twin.keep == ws.keep


def test_a_layer_reuses_its_buffers_only_after_the_cache_is_dropped():
    layer = LSTM(32, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(16, 20, 8))
    layer.build(x.shape, rng=np.random.default_rng(0), dtype="float64")
    y1, cache1 = layer.forward(x)
    kept = y1.copy()
    y2, cache2 = layer.forward(x[:, ::-1].copy())
    assert not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(y1, kept)  # the first pass's buffers were not touched
    first = [a.ctypes.data for a in (*cache1.S, cache1.xw)]
    del y1, cache1
    y3, cache3 = layer.forward(x)
    assert [a.ctypes.data for a in (*cache3.S, cache3.xw)] == first  # recycled
    np.testing.assert_array_equal(y3, kept)
