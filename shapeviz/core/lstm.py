"""LSTM: Keras's long short-term memory layer, gates i, f, c, o in one fused (·, 4H) block."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.core.backend import empty, new_param
from shapeviz.core.gates import exponential, sigmoid_inplace, tanh_into
from shapeviz.core.recurrent import Recurrent


class LSTM(Recurrent):
    """Keras's LSTM (weights ``kernel (F, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H,)``).

    ``z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias`` split into ``i, f, g, o``;
    ``c_t = σ(f) * c_{t-1} + σ(i) * tanh(g)``, ``h_t = σ(o) * tanh(c_t)``. States ``(h, c)``.

    Args:
        units: state size H.
        unit_forget_bias: initialise the forget-gate block of the bias to 1 (as Keras).
        **kwargs: the options of ``Recurrent`` (return_sequences, dropout, time_major, ...).

    Inside a forward pass the weights are used pre-multiplied per column by ``-κ`` (i, f,
    o) and ``-2κ`` (g), so that one exponential over the whole ``(B, 4H)`` block gives all
    four gates: ``σ(z) = 1 / (1 + e^{-z})`` and ``tanh(z) = 2σ(2z) - 1`` (see
    ``shapeviz.core.gates``; κ converts ``e^x`` to the exponential used). The gradients are
    those of the unscaled weights: the scaling is only how the forward evaluates the gates.
    """

    kind = "lstm"
    n_gates = 4
    state_names = ("h", "c")

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def init_bias(self, rng: np.random.Generator) -> np.ndarray:
        H = self.units
        if not self.unit_forget_bias:
            return self.bias_initializer(rng, (4 * H,), self.dtype)
        # as Keras: bias_initializer on i, ones on f, bias_initializer on c and o (one new_param
        # for the whole bias: a dry build makes no part of it)
        return new_param((4 * H,), self.dtype, lambda: np.concatenate([
            self.bias_initializer(rng, (H,), self.dtype),
            np.ones((H,), dtype=self.dtype),
            self.bias_initializer(rng, (2 * H,), self.dtype),
        ]))  # (4H,)

    def _gate_vectors(self, like: Any) -> tuple[Any, Any]:
        """Per-column constants of the fused gate block, each ``(4H,)``: ``scale`` (``-κ`` on
        the sigmoid columns i, f, o, ``-2κ`` on g), folded into the weights so that
        ``σ(scale·z)`` is the gate (after ``2·g - 1`` on g), and ``tanh_cols`` (1 on g, 0
        elsewhere), so that ``dgate/dz = (1 - gate)·(gate + tanh_cols)``."""
        H = self.units
        kappa = exponential(like.dtype)[1]
        scale = empty((4 * H,), like=like)  # (4H,)
        scale[...] = -kappa
        scale[2 * H:3 * H] = -2.0 * kappa
        tanh_cols = empty((4 * H,), like=like)  # (4H,)
        tanh_cols[...] = 0.0
        tanh_cols[2 * H:3 * H] = 1.0
        return scale, tanh_cols

    def project_inputs(self, xin: Any, S: tuple) -> Any:
        T, B, F = xin.shape
        scale = self._gate_vectors(xin)[0]  # (4H,)
        kernel = self.params["kernel"] * scale  # (F, 4H), columns scaled for the exponential
        xw = self.workspace.empty((T, B, 4 * self.units), like=xin, dtype=self.dtype)  # (T, B, 4H)
        np.matmul(xin.reshape(T * B, F), kernel, out=xw.reshape(T * B, 4 * self.units))  # (T*B, 4H)
        if self.use_bias:
            xw += self.params["bias"] * scale  # (T, B, 4H)
        return xw

    def alloc(self, T: Any, B: Any, like: Any) -> dict:
        H = self.units
        scale, tanh_cols = self._gate_vectors(like)
        return {
            "tanh_c": self.workspace.empty((T, B, H), like=like),  # tanh(c_t) per step, kept for backward
            # per-forward constants and (B, ·) scratch reused by every step
            "recurrent_kernel": self.params["recurrent_kernel"] * scale,  # (H, 4H), columns scaled
            "tanh_cols": tanh_cols,
            "wide": empty((B, 4 * H), like=like), "wide2": empty((B, 4 * H), like=like),
            "narrow": empty((B, H), like=like), "h_drop": empty((B, H), like=like),
        }

    def step(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        H = self.units
        h_prev = S[0][t]  # (B, H)
        if rdp is not None:
            h_prev = np.multiply(h_prev, rdp, out=bufs["h_drop"])  # (B, H)
        gates = xw[t]  # (B, 4H) view: scaled pre-activations in, gates out
        gates += np.matmul(h_prev, bufs["recurrent_kernel"], out=bufs["wide"])  # (B, 4H)
        sigmoid_inplace(gates)  # (B, 4H): i, f, o = σ, and σ(2z) in the g block
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
        g *= 2.0  # (B, H)
        g -= 1.0  # (B, H): g = tanh
        c = np.multiply(f, S[1][t], out=S[1][t + 1])  # (B, H)
        c += np.multiply(i, g, out=bufs["narrow"])  # (B, H)
        tanh_c = tanh_into(c, bufs["tanh_c"][t])  # (B, H)
        np.multiply(o, tanh_c, out=S[0][t + 1])  # (B, H)

    def step_backward(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                      dxw: Any, drec: Any) -> list:
        # dS's arrays belong to the time loop (fresh or returned by the previous step), so
        # they are updated in place and returned as the gradients of S[i][t].
        H = self.units
        dh, dc = dS  # (B, H) each
        gates = xw[t]  # (B, 4H)
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
        tanh_c = bufs["tanh_c"][t]  # (B, H)
        dz = dxw[t]  # (B, 4H) view: d(gates), then d(pre-activations)
        np.multiply(dh, tanh_c, out=dz[:, 3 * H:])  # (B, H) do
        tmp = np.multiply(tanh_c, tanh_c, out=bufs["narrow"])  # (B, H)
        np.subtract(1.0, tmp, out=tmp)  # (B, H)
        tmp *= o  # (B, H)
        tmp *= dh  # (B, H)
        dc += tmp  # (B, H) total dc_t
        np.multiply(dc, g, out=dz[:, :H])  # (B, H) di
        np.multiply(dc, S[1][t], out=dz[:, H:2 * H])  # (B, H) df
        np.multiply(dc, i, out=dz[:, 2 * H:3 * H])  # (B, H) dg
        dc *= f  # (B, H) dc_{t-1}
        deriv = np.subtract(1.0, gates, out=bufs["wide"])  # (B, 4H)
        deriv *= np.add(gates, bufs["tanh_cols"], out=bufs["wide2"])  # (B, 4H): σ' = σ(1-σ), tanh' = 1-g²
        dz *= deriv  # (B, 4H)
        np.matmul(dz, self.params["recurrent_kernel"].T, out=dh)  # (B, H) dh_{t-1}
        if rdp is not None:
            dh *= rdp  # (B, H)
        return [dh, dc]

    def config(self) -> dict[str, Any]:
        return {"unit_forget_bias": self.unit_forget_bias, **super().config()}
