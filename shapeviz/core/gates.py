"""σ and tanh for the recurrent cells through one exponential, numpy's cheapest transcendental.

Why: numpy's ``tanh`` costs 3.5-4.5 ns per float32 element and 14-18 ns per float64 element
on the machines this was measured on (AVX2, no AVX-512), where ``exp`` costs 1.5-3 ns
(float32) and ``exp2`` 5-7 ns (float64), and ``+``, ``*``, ``1/x`` 0.2-0.5 ns.

The fused-exponential trick (used by LSTM and GRU with their default activations, tanh and
sigmoid; every other choice takes the cell's general step):

1. ``σ(z) = 1 / (1 + e^{-z})`` and ``tanh(z) = 2σ(2z) - 1``, so every gate of a cell is a σ
   of its pre-activation times a per-column constant: ``-1`` on the σ gates, ``-2`` on a
   tanh gate (LSTM's g).
2. The exponential is ``exp`` (float32) or ``exp2`` (float64, with κ = log2(e), since
   ``e^x = 2^(κx)``): see ``exponential``.
3. The per-column factors ``-κ`` / ``-2κ`` are multiplied into the columns of ``kernel``,
   ``recurrent_kernel`` and ``bias`` once per forward pass (not per step), so the two
   matmuls of a step already produce ``-κ·z``; ``sigmoid_inplace`` then turns the whole
   ``(B, kH)`` block into gates with three passes (exp, +1, 1/x) and no temporary, and the
   tanh block needs ``g = 2g - 1`` after it.
4. Backward reads only the gate values: ``σ' = σ(1 - σ)`` and ``tanh' = 1 - g² =
   (1 - g)(1 + g)``, which LSTM computes for the whole block at once as
   ``(1 - gate)·(gate + tanh_cols)`` with ``tanh_cols`` 1 on g and 0 elsewhere. The
   gradients are those of the unscaled weights: the scaling is only how the forward
   evaluates the gates, and the gradients stay those of the computed forward.
5. A float64 state's tanh (LSTM's ``tanh(c_t)``, GRU's candidate) is ``2σ(2x) - 1`` too
   (``tanh_into``); in float32 ``np.tanh`` is as fast.

Both are exact in the limits (``e^{-z}`` may overflow to inf: σ is then 0; the time loop
silences the overflow warning); σ is accurate to a few ulp, tanh to a few ulp of 1
(absolute: near 0 the subtraction cancels).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

LOG2E = 1.4426950408889634  # log2(e): e^x = 2^(x·log2(e))


def exponential(dtype: Any) -> tuple[Callable[..., Any], float]:
    """``(exp, κ)`` for ``dtype``: the exponential the cells use and the factor with
    ``e^x = exp(κ·x)`` — ``np.exp`` for float32, ``np.exp2`` (5-10% faster than ``np.exp``
    here) for float64."""
    if np.dtype(dtype) == np.float64:
        return np.exp2, LOG2E
    return np.exp, 1.0


def sigmoid_inplace(a: Any) -> Any:
    """``a`` holds ``-κ·z`` on entry and ``σ(z)`` on return (three passes, no temporary)."""
    exp = exponential(a.dtype)[0]
    exp(a, out=a)  # e^{-z}
    a += 1.0
    return np.divide(1.0, a, out=a)  # σ(z)


def tanh_into(x: Any, out: Any) -> Any:
    """``out = tanh(x)``: ``np.tanh`` in float32 (where an exponential saves nothing), else
    ``2 / (1 + e^{-2x}) - 1`` (about 2x faster than ``np.tanh`` in float64)."""
    exp, kappa = exponential(out.dtype)
    if exp is np.exp:
        return np.tanh(x, out=out)
    np.multiply(x, -2.0 * kappa, out=out)  # -2κx
    exp(out, out=out)  # e^{-2x}
    out += 1.0
    np.divide(2.0, out, out=out)  # 2σ(2x)
    out -= 1.0
    return out
