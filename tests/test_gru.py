"""GRU (reset_after=True; reset_after=False in test_cell_options.py): gradients, reference values, torch parity, Keras weights, masks and errors."""

from __future__ import annotations

import numpy as np
import pytest

from recurrent_harness import B, F, GRAD_CASES, H, MASK, T, case_id, check_grads, inputs_for, make_layer
from shapeviz.core.convert import to_torch_weights
from shapeviz.core.gru import GRU
from shapeviz.errors import CheckpointError


def reference_gru(x, kernel, recurrent_kernel, bias, *, mask=None, h0=None, go_backwards=False,
                  recurrent_keep=None):
    """Keras's GRU with reset_after=True from its equations, one sample and one step at a
    time (no code shared with the layer). ``recurrent_keep`` (B, H) multiplies h_{t-1} in
    the recurrent matmul only. Returns (outputs (B, T, H) in processing order, h_T)."""
    n_batch, n_steps, _ = x.shape
    n_units = recurrent_kernel.shape[0]
    Wz, Wr, Wh = np.split(kernel, 3, axis=1)
    Uz, Ur, Uh = np.split(recurrent_kernel, 3, axis=1)
    bxz, bxr, bxh = np.split(bias[0], 3)
    bhz, bhr, bhh = np.split(bias[1], 3)

    def sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))

    ys = np.zeros((n_batch, n_steps, n_units))
    hT = np.zeros((n_batch, n_units))
    for b in range(n_batch):
        h = np.zeros(n_units) if h0 is None else h0[b].copy()
        order = range(n_steps - 1, -1, -1) if go_backwards else range(n_steps)
        for k, t in enumerate(order):
            if mask is None or mask[b, t]:
                xt = x[b, t]
                hd = h if recurrent_keep is None else h * recurrent_keep[b]
                z = sigmoid(xt @ Wz + bxz + hd @ Uz + bhz)
                r = sigmoid(xt @ Wr + bxr + hd @ Ur + bhr)
                hh = np.tanh(xt @ Wh + bxh + r * (hd @ Uh + bhh))
                h = z * h + (1.0 - z) * hh
            ys[b, k] = h
        hT[b] = h
    return ys, hT


# -- gradients --------------------------------------------------------------------

@pytest.mark.parametrize("case", GRAD_CASES, ids=case_id)
def test_gradients_match_central_differences(case):
    layer, x = make_layer(GRU, case)
    errors = check_grads(layer, x, **inputs_for(layer, x, case))
    expected = {"x"} | {f"{layer.name}/{k}" for k in layer.params}
    if case.get("initial_state"):
        expected |= {"initial h"}
    assert set(errors) == expected
    assert max(errors.values()) < 1e-6, errors


def test_recurrent_and_input_bias_gradients_differ():
    # the two bias rows enter differently (bias[1]'s h block is gated by r), so a GRU that
    # summed one gradient into both rows would pass a check of their sum but not this
    layer, x = make_layer(GRU, {"return_sequences": True})
    layer.zero_grad()
    y, cache = layer.forward(x)
    layer.backward(np.ones_like(y), cache)
    g = layer.grads["bias"]
    np.testing.assert_array_equal(g[0, :2 * H], g[1, :2 * H])
    assert np.all(np.abs(g[0, 2 * H:] - g[1, 2 * H:]) > 1e-6)


# -- reference values ---------------------------------------------------------------

def test_fixed_weights_hard_coded_outputs():
    # computed once from the equations and confirmed with torch.nn.GRU in float64
    layer = GRU(2, return_sequences=True, return_state=True, dtype="float64")
    layer.build((2, 3, 2))
    layer.set_weights([np.sin(np.arange(12.0)).reshape(2, 6) * 0.5,
                       np.cos(np.arange(12.0)).reshape(2, 6) * 0.5,
                       np.linspace(-0.3, 0.4, 12).reshape(2, 6)])
    y, h = layer(np.arange(12.0).reshape(2, 3, 2) / 10.0 - 0.5)
    expected_y = [[[0.19998796369807015, 0.351793362231013],
                   [0.18760799936560424, 0.3926811858084268],
                   [0.11878016861199141, 0.32917926783367146]],
                  [[0.02559888078272163, 0.04516338715005008],
                   [-0.036504480894537256, -0.020495712612036185],
                   [-0.11318620590465506, -0.13189134682559078]]]
    np.testing.assert_allclose(y, expected_y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h, np.array(expected_y)[:, -1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("opts", [
    {},
    {"mask": True},
    {"initial_state": True},
    {"go_backwards": True, "mask": True, "initial_state": True},
    {"time_major": True, "mask": True, "initial_state": True},
    {"use_bias": False},
], ids=case_id)
def test_matches_independent_reference(opts):
    case = {"return_sequences": True, "return_state": True, **opts}
    layer, x = make_layer(GRU, case)
    kw = inputs_for(layer, x, case)
    (y, h), _ = layer.forward(x, **kw)
    x_bf = x.transpose(1, 0, 2) if opts.get("time_major") else x
    weights = layer.get_weights()
    if len(weights) == 2:
        weights.append(np.zeros((2, 3 * H)))
    h0 = kw["initial_state"][0] if "initial_state" in kw else None
    ys, hT = reference_gru(x_bf, *weights, mask=kw.get("mask"), h0=h0, go_backwards=case.get("go_backwards", False))
    if opts.get("time_major"):
        ys = ys.transpose(1, 0, 2)
    np.testing.assert_allclose(y, ys, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h, hT, rtol=0, atol=1e-12)


def test_recurrent_dropout_masks_h_in_the_matmul_only():
    layer, x = make_layer(GRU, {"return_sequences": True, "dropout": True})
    y, cache = layer.forward(x, training=True, rng=np.random.default_rng(7))
    assert (cache.rdp == 0).any() and (cache.dp == 0).any()
    ys, _ = reference_gru(x * cache.dp[:, None, :], *layer.get_weights(), recurrent_keep=cache.rdp)
    np.testing.assert_allclose(y, ys, rtol=0, atol=1e-12)


def test_float32_default_dtype_close_to_float64():
    layer64, x = make_layer(GRU, {"return_sequences": True})
    layer32 = GRU(H, return_sequences=True)
    layer32.build(x.shape)
    layer32.set_weights(layer64.get_weights())
    y32 = layer32(x.astype(np.float32))
    assert y32.dtype == np.float32 and all(p.dtype == np.float32 for p in layer32.params.values())
    np.testing.assert_allclose(y32, layer64(x), rtol=0, atol=1e-5)


# -- torch parity -------------------------------------------------------------------

def test_torch_parity_outputs_and_gradients():
    torch = pytest.importorskip("torch")
    layer, x = make_layer(GRU, {"return_sequences": True, "return_state": True})
    rng = np.random.default_rng(3)
    h0 = rng.normal(size=(B, H))
    dy, dh = rng.normal(size=(B, T, H)), rng.normal(size=(B, H))

    (y, h), cache = layer.forward(x, initial_state=[h0])
    layer.zero_grad()
    dx, (dh0,) = layer.backward_with_state((dy, dh), cache)

    module = torch.nn.GRU(F, H, batch_first=True).double()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_weights("gru", layer.get_weights()).items()})
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    yt, ht = module(xt, h0t)
    ((yt * torch.from_numpy(dy)).sum() + (ht[0] * torch.from_numpy(dh)).sum()).backward()

    close = dict(rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, yt.detach().numpy(), **close)
    np.testing.assert_allclose(h, ht[0].detach().numpy(), **close)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **close)
    np.testing.assert_allclose(dh0, h0t.grad[0].numpy(), **close)
    ours = to_torch_weights("gru", [layer.grads[k] for k in ("kernel", "recurrent_kernel", "bias")])
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        np.testing.assert_allclose(ours[key], getattr(module, key).grad.numpy(), **close, err_msg=key)


# -- weights and options -----------------------------------------------------------------

def test_keras_weight_order_and_shapes():
    layer = GRU(5)
    layer.build((2, 7, 3))
    assert list(layer.params) == ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in layer.get_weights()] == [(3, 15), (5, 15), (2, 15)]
    assert layer.count_params() == 3 * 15 + 5 * 15 + 2 * 15
    with pytest.raises(CheckpointError, match=r"weight 'bias' has shape \(2, 15\), got an array of shape \(15,\)"):
        layer.set_weights([np.zeros((3, 15)), np.zeros((5, 15)), np.zeros(15)])
    no_bias = GRU(5, use_bias=False)
    no_bias.build((2, 7, 3))
    assert [w.shape for w in no_bias.get_weights()] == [(3, 15), (5, 15)]


def test_reset_after_is_reported():
    # reset_after=False itself is checked in test_cell_options.py
    assert GRU(4).config()["reset_after"] is True
    assert GRU(4, reset_after=False).config()["reset_after"] is False


# -- masks, shapes, errors -------------------------------------------------------------------

def test_masked_steps_carry_h():
    layer, x = make_layer(GRU, {"return_sequences": True, "return_state": True})
    h0 = np.random.default_rng(5).normal(size=(B, H))
    (y, h), _ = layer.forward(x, mask=MASK, initial_state=[h0])
    np.testing.assert_array_equal(y[1, 3], y[1, 2])
    np.testing.assert_array_equal(y[1, 4], y[1, 2])
    (_, h3), _ = layer.forward(x[:, :3], initial_state=[h0])
    np.testing.assert_allclose(h[1], h3[1], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(y[2, 0], h0[2])
    np.testing.assert_array_equal(y[2, 2], y[2, 1])


# -- memory kept for backward ------------------------------------------------------------

def test_memory_kept_per_step_is_states_gates_and_mh_h():
    layer = GRU(16)
    layer.build((4, 10, 8), rng=np.random.default_rng(0))
    _, cache = layer.forward(np.ones((4, 10, 8), np.float32))
    per_step = {k: a for k, a in cache.bufs.items() if a.shape[:1] == (10,)}
    # besides h (in S) and z, r, hh (in xw): h_{t-1} @ U_h + b_h, which r multiplies
    assert {k: a.shape for k, a in per_step.items()} == {"mh_h": (10, 4, 16)}
    assert cache.xw.shape == (10, 4, 48) and [s.shape for s in cache.S] == [(11, 4, 16)]
