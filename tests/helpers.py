"""Shared test helpers: check any layer's analytic gradients against central differences.

Import from a test module in this folder with ``from helpers import check_layer_grads``
(pytest puts ``tests/`` on ``sys.path`` because the folder has no ``__init__.py``).

Two levels:

* :func:`check_grads` — the general check: a scalar ``loss()`` closure and a list of
  ``(name, array, analytic_grad)``; each array is perturbed in place and the central
  difference of ``loss`` compared with ``analytic_grad``.
* :func:`check_layer_grads` — the usual case for a layer: give a ``forward()`` closure
  returning ``(out, cache)`` and a ``backward(dout, cache)`` closure returning the input
  gradients; it draws a random cotangent ``dout`` for ``out`` (any nesting of tuples and
  lists of arrays), runs backward once, and checks the listed inputs plus every parameter
  of the layer and of its sublayers against the numerical gradient of
  ``loss = sum(out * dout)``.

Example::

    layer = SimpleRNN(3, dtype="float64", dropout=0.2)
    layer.build(x.shape, np.random.default_rng(0))

    def forward():  # a fresh rng each call, so every call draws the same dropout mask
        return layer.forward(x, initial_state=[h0], training=True, rng=np.random.default_rng(1))

    def backward(dout, cache):
        dx, (dh0,) = layer.backward_with_state(dout, cache)
        return [dx, dh0]

    check_layer_grads(forward, backward, layer, inputs=[("x", x), ("h0", h0)])
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np

from shapeviz.core.gradcheck import numerical_grad, rel_error

# The four-point stencil with h = 1e-3 has truncation error O(h^4) and round-off O(1e-16/h):
# both ~1e-13, so even gradient entries that nearly cancel are resolved to rel_error < 1e-6.
EPS = 1e-3
ORDER = 4
# Piecewise-linear functions (relu) have kinks a step of 1e-3 may cross: there the two-point
# stencil with a small step is the right tool (its truncation error is zero between kinks).
KINKED = {"eps": 1e-6, "order": 2}
TOL = 1e-6


def _leaves(tree: Any) -> list:
    """The arrays of a nesting of tuples/lists (``None`` kept, in order)."""
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


def random_cotangent(out: Any, rng: np.random.Generator) -> Any:
    """A standard-normal float64 array for every array of ``out``, with the same nesting
    (tuples stay tuples, lists stay lists); ``None`` stays ``None``."""
    if isinstance(out, tuple):
        return tuple(random_cotangent(o, rng) for o in out)
    if isinstance(out, list):
        return [random_cotangent(o, rng) for o in out]
    if out is None:
        return None
    return rng.standard_normal(np.shape(out))


def project(out: Any, dout: Any) -> float:
    """``sum(out * dout)`` over every array pair of two equally nested structures, in float64:
    the scalar whose gradient with respect to ``out`` is ``dout``."""
    total = 0.0
    for o, d in zip(_leaves(out), _leaves(dout), strict=True):
        if o is not None and d is not None:
            total += float(np.sum(np.asarray(o, dtype=np.float64) * d))
    return total


def check_grads(loss: Callable[[], float], checks: Iterable[tuple[str, np.ndarray, Any]], *,
                eps: float = EPS, tol: float = TOL, require_nonzero: bool = True,
                order: int = ORDER) -> dict[str, float]:
    """Assert that analytic gradients match central differences of ``loss``.

    Args:
        loss: () -> float, reading the arrays of ``checks`` (it is called twice per entry).
        checks: ``(name, array, analytic_grad)`` triples; ``array`` must be float64 and is
            perturbed in place (and restored); ``analytic_grad`` has its shape.
        eps: the central-difference step.
        order: 4 (default) or 2, the central-difference stencil (see ``KINKED`` for relu).
        tol: the largest accepted ``rel_error`` (max over entries of |a-n| / (|a|+|n|)).
        require_nonzero: also fail when a numerical gradient is zero everywhere, which
            usually means the test does not exercise what it claims to (e.g. all masked).

    Returns:
        ``{name: rel_error}`` for every check (useful to print while debugging).
    """
    errors: dict[str, float] = {}
    problems: list[str] = []
    for name, array, analytic in checks:
        assert isinstance(array, np.ndarray) and array.dtype == np.float64, (
            f"{name}: gradient checks need a float64 ndarray, got {type(array).__name__} "
            f"{getattr(array, 'dtype', '')}"
        )
        assert analytic is not None, f"{name}: backward returned no gradient"
        assert np.shape(analytic) == array.shape, (
            f"{name}: analytic gradient has shape {np.shape(analytic)}, the array {array.shape}"
        )
        numeric = numerical_grad(loss, array, eps, order=order)
        err = rel_error(analytic, numeric)
        errors[name] = err
        if not err < tol:
            problems.append(f"{name}: rel_error {err:.2e} >= {tol:.0e}")
        if require_nonzero and not np.any(numeric):
            problems.append(f"{name}: the numerical gradient is zero everywhere")
    assert not problems, "gradient check failed:\n  " + "\n  ".join(problems) + f"\nall errors: {errors}"
    return errors


def layer_param_checks(layer: Any, prefix: str = "") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(path, param, grad)`` for every parameter of ``layer`` and its sublayers (depth
    first), e.g. ``("forward_rnn/kernel", params["kernel"], grads["kernel"])``."""
    path = f"{prefix}{layer.name}/"
    checks = [(path + key, layer.params[key], layer.grads[key]) for key in layer.params]
    for sub in layer.sublayers():
        checks += layer_param_checks(sub, path)
    return checks


def check_layer_grads(forward: Callable[[], tuple[Any, Any]], backward: Callable[[Any, Any], Any],
                      layer: Any = None, inputs: Sequence[tuple[str, np.ndarray]] = (), *,
                      eps: float | None = None, tol: float = TOL, seed: int = 0,
                      require_nonzero: bool = True, order: int | None = None) -> dict[str, float]:
    """Gradient-check a layer (or any forward/backward pair) in float64.

    Args:
        forward: () -> (out, cache). ``out`` is an array or a nesting of tuples/lists of
            arrays (``None`` entries are skipped). Called once for the analytic pass and twice
            per checked entry, so it must be deterministic: build a fresh
            ``np.random.default_rng(seed)`` inside it when the layer draws dropout masks.
        backward: (dout, cache) -> the gradients of ``inputs``: one array when there is one
            input, else a sequence aligned with ``inputs``. ``dout`` mirrors ``out``. It must
            also accumulate the parameter gradients into ``layer.grads`` (and sublayers').
        layer: the layer whose parameters (and sublayers' parameters) are checked; its
            gradients are zeroed with ``layer.zero_grad()`` before ``backward``. ``None`` checks
            only ``inputs``.
        inputs: ``(name, array)`` of the float64 arrays ``forward`` reads (x, initial states).
        eps, tol, require_nonzero, order: as :func:`check_grads`; by default ``EPS``/``ORDER``,
            or ``KINKED`` when the layer or a sublayer uses a relu activation.
        seed: seeds the random cotangent.

    Returns:
        ``{name: rel_error}`` for every checked array.
    """
    out, cache = forward()
    again, _ = forward()
    for a, b in zip(_leaves(out), _leaves(again), strict=True):
        assert (a is None and b is None) or np.array_equal(a, b), (
            "forward() is not deterministic: reseed the rng inside it"
        )
    dout = random_cotangent(out, np.random.default_rng(seed))
    if layer is not None:
        layer.zero_grad()
    dins = backward(dout, cache)
    if len(inputs) == 1 and not isinstance(dins, (list, tuple)):
        dins = [dins]
    dins = list(dins) if inputs else []
    assert len(dins) == len(inputs), f"backward returned {len(dins)} input gradients for {len(inputs)} inputs"
    checks: list[tuple[str, np.ndarray, Any]] = [(name, arr, d) for (name, arr), d in zip(inputs, dins)]
    if layer is not None:
        checks += [(name, p, g.copy()) for name, p, g in layer_param_checks(layer)]

    def loss() -> float:
        return project(forward()[0], dout)

    stencil = KINKED if layer is not None and _has_kinks(layer) else {"eps": EPS, "order": ORDER}
    return check_grads(loss, checks, eps=stencil["eps"] if eps is None else eps, tol=tol,
                       require_nonzero=require_nonzero, order=stencil["order"] if order is None else order)


# activations whose derivative (relu, the hard sigmoids) or second derivative (softsign, at 0)
# jumps: the four-point stencil assumes smoothness over its 4e-3 span, KINKED does not
KINKED_ACTIVATIONS = {"relu", "hard_sigmoid", "hard_sigmoid_keras2", "softsign"}


def _has_kinks(layer: Any) -> bool:
    return (getattr(layer, "activation", None) in KINKED_ACTIVATIONS
            or getattr(layer, "recurrent_activation", None) in KINKED_ACTIVATIONS
            or any(_has_kinks(s) for s in layer.sublayers()))
