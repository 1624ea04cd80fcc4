"""LSTM: gradients, reference values, torch parity, Keras weights, masks and input errors."""

from __future__ import annotations

import numpy as np
import pytest

from recurrent_harness import B, GRAD_CASES, H, MASK, T, case_id, check_grads, inputs_for, make_layer
from shapeviz.core.convert import to_torch_weights
from shapeviz.core.lstm import LSTM
from shapeviz.errors import CheckpointError


def reference_lstm(x, kernel, recurrent_kernel, bias, *, mask=None, h0=None, c0=None, go_backwards=False):
    """Keras's LSTM from its equations, one sample and one step at a time (no code shared
    with the layer). Returns (outputs (B, T, H) in processing order, h_T, c_T)."""
    n_batch, n_steps, _ = x.shape
    n_units = recurrent_kernel.shape[0]
    Wi, Wf, Wc, Wo = np.split(kernel, 4, axis=1)
    Ui, Uf, Uc, Uo = np.split(recurrent_kernel, 4, axis=1)
    bi, bf, bc, bo = np.split(bias, 4)

    def sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))

    ys = np.zeros((n_batch, n_steps, n_units))
    hT = np.zeros((n_batch, n_units))
    cT = np.zeros((n_batch, n_units))
    for b in range(n_batch):
        h = np.zeros(n_units) if h0 is None else h0[b].copy()
        c = np.zeros(n_units) if c0 is None else c0[b].copy()
        order = range(n_steps - 1, -1, -1) if go_backwards else range(n_steps)
        for k, t in enumerate(order):
            if mask is None or mask[b, t]:
                xt = x[b, t]
                i = sigmoid(xt @ Wi + h @ Ui + bi)
                f = sigmoid(xt @ Wf + h @ Uf + bf)
                g = np.tanh(xt @ Wc + h @ Uc + bc)
                o = sigmoid(xt @ Wo + h @ Uo + bo)
                c = f * c + i * g
                h = o * np.tanh(c)
            ys[b, k] = h
        hT[b], cT[b] = h, c
    return ys, hT, cT


# -- gradients --------------------------------------------------------------------

LSTM_CASES = GRAD_CASES + [{"unit_forget_bias": False, "mask": True, "return_sequences": True}]


@pytest.mark.parametrize("case", LSTM_CASES, ids=case_id)
def test_gradients_match_central_differences(case):
    layer, x = make_layer(LSTM, case)
    errors = check_grads(layer, x, **inputs_for(layer, x, case))
    expected = {"x"} | {f"{layer.name}/{k}" for k in layer.params}
    if case.get("initial_state"):
        expected |= {"initial h", "initial c"}
    assert set(errors) == expected
    assert max(errors.values()) < 1e-6, errors


def test_dropout_case_really_drops_inputs_and_state():
    case = {"dropout": True, "return_sequences": True}
    layer, x = make_layer(LSTM, case)
    _, cache = layer.forward(x, training=True, rng=np.random.default_rng(7))
    assert (cache.dp == 0).any() and (cache.dp != 0).any()
    assert (cache.rdp == 0).any() and (cache.rdp != 0).any()
    # the same seed gives the same masks, which is what makes the gradient check valid
    _, cache2 = layer.forward(x, training=True, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(cache.dp, cache2.dp)
    np.testing.assert_array_equal(cache.rdp, cache2.rdp)


# -- reference values ---------------------------------------------------------------

def _fixed_layer(**kwargs):
    """F=2, H=2 with weights from a formula; x (2, 3, 2)."""
    layer = LSTM(2, return_sequences=True, return_state=True, dtype="float64", **kwargs)
    layer.build((2, 3, 2))
    kernel = np.sin(np.arange(16.0)).reshape(2, 8) * 0.5
    recurrent_kernel = np.cos(np.arange(16.0)).reshape(2, 8) * 0.5
    bias = np.linspace(-0.3, 0.4, 8)
    layer.set_weights([kernel, recurrent_kernel, bias])
    x = np.arange(12.0).reshape(2, 3, 2) / 10.0 - 0.5
    return layer, x


def test_fixed_weights_hard_coded_outputs():
    # computed once from the equations and confirmed with torch.nn.LSTM in float64
    layer, x = _fixed_layer()
    y, h, c = layer(x)
    expected_y = [[[0.07683763741537315, 0.06777899088375665],
                   [0.09689390053930025, 0.11073303219215419],
                   [0.08379019671747048, 0.1324476453104522]],
                  [[0.002276391193638579, 0.05597927053689619],
                   [-0.027236848389610352, 0.07900181413575151],
                   [-0.07665404925090746, 0.07711624225950404]]]
    expected_c = [[0.1427410372823404, 0.2286050381504552], [-0.12285666068497063, 0.11519498647501222]]
    np.testing.assert_allclose(y, expected_y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h, np.array(expected_y)[:, -1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(c, expected_c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("opts", [
    {},
    {"mask": True},
    {"initial_state": True},
    {"go_backwards": True},
    {"go_backwards": True, "mask": True, "initial_state": True},
    {"time_major": True, "mask": True, "initial_state": True},
], ids=case_id)
def test_matches_independent_reference(opts):
    case = {"return_sequences": True, "return_state": True, **opts}
    layer, x = make_layer(LSTM, case)
    kw = inputs_for(layer, x, case)
    (y, h, c), _ = layer.forward(x, **kw)
    x_bf = x.transpose(1, 0, 2) if opts.get("time_major") else x
    h0, c0 = kw.get("initial_state", (None, None))
    ys, hT, cT = reference_lstm(x_bf, *layer.get_weights(), mask=kw.get("mask"), h0=h0, c0=c0,
                                go_backwards=case.get("go_backwards", False))
    if opts.get("time_major"):
        ys = ys.transpose(1, 0, 2)
    np.testing.assert_allclose(y, ys, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h, hT, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c, cT, rtol=0, atol=1e-12)


def test_float32_default_dtype_close_to_float64():
    layer64, x = make_layer(LSTM, {"return_sequences": True})
    layer32 = LSTM(H, return_sequences=True)
    layer32.build(x.shape)
    layer32.set_weights(layer64.get_weights())
    y32 = layer32(x.astype(np.float32))
    assert layer32.dtype == np.float32 and y32.dtype == np.float32
    assert all(p.dtype == np.float32 for p in layer32.params.values())
    np.testing.assert_allclose(y32, layer64(x), rtol=0, atol=1e-5)


# -- torch parity -------------------------------------------------------------------

def _torch_lstm(torch, layer):
    module = torch.nn.LSTM(layer.input_features, layer.units, batch_first=True).double()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_weights("lstm", layer.get_weights()).items()})
    return module


def test_torch_parity_outputs_and_gradients():
    torch = pytest.importorskip("torch")
    layer, x = make_layer(LSTM, {"return_sequences": True, "return_state": True})
    rng = np.random.default_rng(3)
    h0, c0 = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    dy, dh, dc = rng.normal(size=(B, T, H)), rng.normal(size=(B, H)), rng.normal(size=(B, H))

    (y, h, c), cache = layer.forward(x, initial_state=[h0, c0])
    layer.zero_grad()
    dx, (dh0, dc0) = layer.backward_with_state((dy, dh, dc), cache)

    module = _torch_lstm(torch, layer)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    c0t = torch.tensor(c0[None], requires_grad=True)
    yt, (ht, ct) = module(xt, (h0t, c0t))
    loss = (yt * torch.from_numpy(dy)).sum() + (ht[0] * torch.from_numpy(dh)).sum() + (ct[0] * torch.from_numpy(dc)).sum()
    loss.backward()

    close = dict(rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, yt.detach().numpy(), **close)
    np.testing.assert_allclose(h, ht[0].detach().numpy(), **close)
    np.testing.assert_allclose(c, ct[0].detach().numpy(), **close)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **close)
    np.testing.assert_allclose(dh0, h0t.grad[0].numpy(), **close)
    np.testing.assert_allclose(dc0, c0t.grad[0].numpy(), **close)
    ours = to_torch_weights("lstm", [layer.grads[k] for k in ("kernel", "recurrent_kernel", "bias")])
    np.testing.assert_allclose(ours["weight_ih_l0"], module.weight_ih_l0.grad.numpy(), **close)
    np.testing.assert_allclose(ours["weight_hh_l0"], module.weight_hh_l0.grad.numpy(), **close)
    np.testing.assert_allclose(ours["bias_ih_l0"], module.bias_ih_l0.grad.numpy(), **close)
    np.testing.assert_allclose(ours["bias_ih_l0"], module.bias_hh_l0.grad.numpy(), **close)


def test_torch_parity_go_backwards_is_torch_on_the_reversed_sequence():
    torch = pytest.importorskip("torch")
    layer, x = make_layer(LSTM, {"return_sequences": True, "go_backwards": True})
    module = _torch_lstm(torch, layer)
    yt, _ = module(torch.tensor(x[:, ::-1].copy()))
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=0, atol=1e-12)


# -- weights ---------------------------------------------------------------------------

def test_keras_weight_order_and_shapes():
    layer = LSTM(5)
    layer.build((2, 7, 3))
    shapes = [w.shape for w in layer.get_weights()]
    assert list(layer.params) == ["kernel", "recurrent_kernel", "bias"]
    assert shapes == [(3, 20), (5, 20), (20,)]
    assert layer.count_params() == 3 * 20 + 5 * 20 + 20
    new = [np.full(s, float(i), dtype=np.float32) for i, s in enumerate(shapes)]
    layer.set_weights(new)
    for got, want in zip(layer.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(CheckpointError, match=r"weight 'recurrent_kernel' has shape \(5, 20\), got an array of shape \(5, 16\)"):
        layer.set_weights([new[0], np.zeros((5, 16)), new[2]])


def test_no_bias_has_two_weights():
    layer = LSTM(4, use_bias=False)
    layer.build((1, 2, 3))
    assert [w.shape for w in layer.get_weights()] == [(3, 16), (4, 16)]


def test_unit_forget_bias_sets_the_forget_block_to_one():
    on = LSTM(4)
    on.build((1, 2, 3))
    np.testing.assert_array_equal(on.params["bias"], [0] * 4 + [1] * 4 + [0] * 8)
    off = LSTM(4, unit_forget_bias=False)
    off.build((1, 2, 3))
    np.testing.assert_array_equal(off.params["bias"], np.zeros(16))
    uni = LSTM(4, bias_initializer="uniform")
    uni.build((1, 2, 3), rng=np.random.default_rng(0))
    b = uni.params["bias"]
    np.testing.assert_array_equal(b[4:8], np.ones(4))
    assert np.all(np.abs(np.r_[b[:4], b[8:]]) <= 0.05) and np.any(b[8:] != 0)
    assert on.config()["unit_forget_bias"] is True and off.config()["unit_forget_bias"] is False


# -- masks and states --------------------------------------------------------------------

def test_masked_steps_carry_h_and_c():
    layer, x = make_layer(LSTM, {"return_sequences": True, "return_state": True})
    rng = np.random.default_rng(5)
    h0, c0 = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    (y, h, c), _ = layer.forward(x, mask=MASK, initial_state=[h0, c0])
    # row 1 has length 3: its last outputs repeat step 2, and the final state is the state
    # after 3 steps of the unmasked sequence
    np.testing.assert_array_equal(y[1, 3], y[1, 2])
    np.testing.assert_array_equal(y[1, 4], y[1, 2])
    (y3, h3, c3), _ = layer.forward(x[:, :3], initial_state=[h0, c0])
    np.testing.assert_allclose(h[1], h3[1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(c[1], c3[1], rtol=0, atol=1e-15)
    # row 2 is masked at step 0: its output there is the initial h, and step 2 repeats step 1
    np.testing.assert_array_equal(y[2, 0], h0[2])
    np.testing.assert_array_equal(y[2, 2], y[2, 1])
    # an all-ones mask changes nothing
    (y_full, _, _), _ = layer.forward(x, mask=np.ones((B, T), bool), initial_state=[h0, c0])
    (y_none, _, _), _ = layer.forward(x, initial_state=[h0, c0])
    np.testing.assert_array_equal(y_full, y_none)


# -- errors ------------------------------------------------------------------------------

# -- memory kept for backward ------------------------------------------------------------

def test_memory_kept_per_step_is_states_gates_and_tanh_c():
    def kept(steps):
        layer = LSTM(16)
        layer.build((4, steps, 8), rng=np.random.default_rng(0))
        _, cache = layer.forward(np.ones((4, steps, 8), np.float32))
        per_step = [a for a in cache.bufs.values() if a.shape[:1] == (steps,)]
        fixed = sum(a.nbytes for a in cache.bufs.values()) - sum(a.nbytes for a in per_step)
        necessary = sum(s.nbytes for s in cache.S) + cache.xw.nbytes  # h, c and the 4 gates
        return sum(a.nbytes for a in per_step), necessary, fixed

    extra, necessary, fixed = kept(10)
    assert extra == 10 * 4 * 16 * 4  # tanh(c_t): (T, B, H) float32
    assert necessary + extra <= 1.2 * necessary
    assert kept(30)[2] == fixed  # scratch and scaled weights do not grow with T
