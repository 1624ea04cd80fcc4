"""Optimizers: each update rule against a hand-written Keras reference for several steps,
clipping by value and by global norm, state round trips, options, allocations."""

import math
import tracemalloc

import numpy as np
import pytest

from shapeviz.core import optimizers
from shapeviz.core.dense import Dense
from shapeviz.core.optimizers import SGD, Adagrad, Adam, RMSprop, global_norm
from shapeviz.core.sequential import Sequential
from shapeviz.errors import CheckpointError, ConfigError


def make_model(units=3, features=4, dtype="float64", seed=0):
    model = Sequential([Dense(units), Dense(2)], dtype=dtype, seed=seed)
    model.build((None, features))
    return model


def grad_sequence(model, n, seed=1):
    """n lists of gradients, one per parameter, drawn once so reference and optimizer see the same."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=layer.params[key].shape) for _, layer, key in model.parameters()] for _ in range(n)]


def run(opt, model, grads):
    for gs in grads:
        for (_, layer, key), g in zip(model.parameters(), gs):
            layer.grads[key][...] = g
        opt.step(model)
        model.zero_grad()
    return [layer.params[key].copy() for _, layer, key in model.parameters()]


# -- hand-written references, Keras's formulas, one parameter at a time, nothing in place --------
def ref_sgd(p, grads, lr, momentum=0.0, nesterov=False):
    m = np.zeros_like(p)
    for g in grads:
        if momentum == 0.0:
            p = p - lr * g
        else:
            m = momentum * m - lr * g
            p = p + (momentum * m - lr * g if nesterov else m)
    return p


def ref_adagrad(p, grads, lr, eps=1e-7, init=0.1):
    acc = np.full_like(p, init)
    for g in grads:
        acc = acc + g * g
        p = p - lr * g / np.sqrt(acc + eps)
    return p


def ref_rmsprop(p, grads, lr, rho=0.9, eps=1e-7):
    v = np.zeros_like(p)
    for g in grads:
        v = rho * v + (1 - rho) * g * g
        p = p - lr * g / np.sqrt(v + eps)
    return p


def ref_adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-7):
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    return p


CASES = [
    (lambda: SGD(), lambda p, g: ref_sgd(p, g, 0.01)),
    (lambda: SGD(0.1, momentum=0.9), lambda p, g: ref_sgd(p, g, 0.1, 0.9)),
    (lambda: SGD(0.1, momentum=0.5, nesterov=True), lambda p, g: ref_sgd(p, g, 0.1, 0.5, True)),
    (lambda: Adagrad(0.1), lambda p, g: ref_adagrad(p, g, 0.1)),
    (lambda: Adagrad(0.1, epsilon=1e-3, initial_accumulator_value=0.5),
     lambda p, g: ref_adagrad(p, g, 0.1, 1e-3, 0.5)),
    (lambda: RMSprop(0.01), lambda p, g: ref_rmsprop(p, g, 0.01)),
    (lambda: RMSprop(0.01, rho=0.5, epsilon=1e-3), lambda p, g: ref_rmsprop(p, g, 0.01, 0.5, 1e-3)),
    (lambda: Adam(0.01), lambda p, g: ref_adam(p, g, 0.01)),
    (lambda: Adam(0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-3), lambda p, g: ref_adam(p, g, 0.01, 0.5, 0.9, 1e-3)),
]


@pytest.mark.parametrize("make, ref", CASES, ids=["sgd", "momentum", "nesterov", "adagrad", "adagrad-opts",
                                                  "rmsprop", "rmsprop-opts", "adam", "adam-opts"])
def test_update_rule_matches_reference(make, ref):
    model = make_model()
    before = [layer.params[key].copy() for _, layer, key in model.parameters()]
    grads = grad_sequence(model, 5)
    after = run(make(), model, grads)
    for i, (p0, p1) in enumerate(zip(before, after)):
        expected = ref(p0, [gs[i] for gs in grads])
        np.testing.assert_allclose(p1, expected, rtol=1e-12, atol=1e-15)
        assert not np.allclose(p1, p0)


def test_adam_first_step_moves_every_weight_by_lr_against_the_gradient_sign():
    model = make_model()
    before = [layer.params[key].copy() for _, layer, key in model.parameters()]
    grads = grad_sequence(model, 1)
    after = run(Adam(0.01), model, grads)
    for p0, p1, g in zip(before, after, grads[0]):
        np.testing.assert_allclose(p1 - p0, -0.01 * np.sign(g), rtol=1e-3)  # epsilon shows for tiny |g|


def test_float32_parameters_stay_float32():
    model = make_model(dtype="float32")
    grads = [[g.astype(np.float32) for g in gs] for gs in grad_sequence(model, 3)]
    for p in run(Adam(), model, grads):
        assert p.dtype == np.float32


def test_clipvalue():
    model = make_model()
    grads = grad_sequence(model, 1)
    grads[0][0][0, 0] = 5.0
    grads[0][0][0, 1] = -0.5
    before = model.parameters()[0][1].params["kernel"].copy()
    run(SGD(1.0, clipvalue=1.0), model, grads)
    after = model.parameters()[0][1].params["kernel"]
    delta = before - after  # = the clipped gradient
    assert delta[0, 0] == pytest.approx(1.0) and delta[0, 1] == pytest.approx(-0.5)
    np.testing.assert_allclose(delta, np.clip(grads[0][0], -1, 1))


def test_clipnorm_is_global_over_all_gradients():
    model = make_model()
    params = model.parameters()
    grads = [[np.zeros(layer.params[key].shape) for _, layer, key in params]]
    grads[0][0].flat[0] = 3.0  # first kernel
    grads[0][2].flat[0] = 4.0  # second kernel: global norm 5, each weight's own norm <= 4
    before = [layer.params[key].copy() for _, layer, key in params]
    after = run(SGD(1.0, clipnorm=1.0), model, grads)
    d0 = (before[0] - after[0]).flat[0]
    d2 = (before[2] - after[2]).flat[0]
    assert (d0, d2) == (pytest.approx(0.6), pytest.approx(0.8))  # per-weight clipping would give 1.0 and 1.0
    # under the threshold nothing changes
    model = make_model()
    before = [layer.params[key].copy() for _, layer, key in model.parameters()]
    after = run(SGD(1.0, clipnorm=10.0), model, grads)
    assert (before[0] - after[0]).flat[0] == pytest.approx(3.0)


def test_clipvalue_then_clipnorm():
    model = make_model()
    grads = [[np.zeros(layer.params[key].shape) for _, layer, key in model.parameters()]]
    grads[0][0].flat[0] = 30.0
    grads[0][2].flat[0] = 4.0
    before = [layer.params[key].copy() for _, layer, key in model.parameters()]
    after = run(SGD(1.0, clipvalue=3.0, clipnorm=1.0), model, grads)  # (30, 4) -> (3, 3) -> norm 1
    s = 1 / math.sqrt(2)
    assert (before[0] - after[0]).flat[0] == pytest.approx(s)
    assert (before[2] - after[2]).flat[0] == pytest.approx(s)


def test_global_norm_survives_float32_overflow():
    grads = [np.full((3, 3), 1e30, dtype=np.float32), np.full(4, -1e30, dtype=np.float32)]
    assert global_norm(grads) == pytest.approx(1e30 * math.sqrt(13), rel=1e-6)
    assert math.isnan(global_norm([np.array([1.0, np.nan])]))
    assert global_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0


def test_state_dict_resumes_exactly():
    grads = grad_sequence(make_model(), 6)
    straight = run(Adam(0.01), make_model(), grads)
    model = make_model()
    first = Adam(0.01)
    run(first, model, grads[:3])
    state = first.state_dict()
    assert state["iterations"] == 3 and set(state["slots"]) == {p for p, _, _ in model.parameters()}
    second = Adam(0.01)
    second.load_state_dict(state)
    state["slots"][model.parameters()[0][0]]["m"][...] = 99.0  # the optimizer holds copies
    resumed = run(second, model, grads[3:])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(CheckpointError, match="'adam'.*'sgd'"):
        SGD().load_state_dict(second.state_dict())


def test_step_allocates_nothing_after_the_first():
    model = Sequential([Dense(256)], dtype="float64", seed=0)
    model.build((None, 256))
    opt = Adam(clipnorm=1.0)
    for _, layer, key in model.parameters():
        layer.grads[key][...] = 1.0
    opt.step(model)  # creates the slots and scratch buffers
    tracemalloc.start()
    try:
        for _ in range(5):
            opt.step(model)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    param_bytes = sum(layer.params[key].nbytes for _, layer, key in model.parameters())
    assert peak < param_bytes / 50, f"a step allocated {peak} bytes for {param_bytes} bytes of parameters"


def test_get():
    opt = optimizers.get("Adam", learning_rate=0.1, clipnorm=1.0)
    assert isinstance(opt, Adam) and opt.learning_rate == 0.1 and opt.clipnorm == 1.0
    assert isinstance(optimizers.get("sgd"), SGD) and optimizers.get("sgd").learning_rate == 0.01
    assert optimizers.get("rmsprop").rho == 0.9 and optimizers.get("adagrad").initial_accumulator_value == 0.1
    inst = SGD()
    assert optimizers.get(inst) is inst
    with pytest.raises(ConfigError, match=r"expected one of \['adagrad', 'adam', 'rmsprop', 'sgd'\].*'nadam'"):
        optimizers.get("nadam")
    with pytest.raises(ConfigError, match=r"Adam got unknown option\(s\) \['momentum'\]"):
        optimizers.get("adam", momentum=0.9)
    with pytest.raises(ConfigError, match="only apply to an optimizer given by name"):
        optimizers.get(inst, learning_rate=0.1)
    with pytest.raises(ConfigError, match="`learning_rate`, expected a positive number, got -1"):
        Adam(learning_rate=-1)
    with pytest.raises(ConfigError, match="`clipnorm`"):
        SGD(clipnorm=0)
    with pytest.raises(ConfigError, match=r"`momentum`, expected a float in \[0, 1\)"):
        SGD(momentum=1.5)
