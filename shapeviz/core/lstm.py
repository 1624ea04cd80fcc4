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
    ``c_t = ρ(f) * c_{t-1} + ρ(i) * α(g)``, ``h_t = ρ(o) * α(c_t)`` with ``α`` the
    ``activation`` (tanh) and ``ρ`` the ``recurrent_activation`` (sigmoid). States ``(h, c)``.

    Args:
        units: state size H.
        activation: α, one of ``activations.CELL_ACTIVATIONS`` (default tanh).
        recurrent_activation: ρ, likewise (default sigmoid; Keras 2's default was
            hard_sigmoid, which is ``"hard_sigmoid_keras2"`` here).
        unit_forget_bias: initialise the forget-gate block of the bias to 1 (as Keras).
        **kwargs: the options of ``Recurrent`` (return_sequences, dropout, time_major, ...).

    With the defaults (tanh, sigmoid) the step is the fused one of ``shapeviz.core.gates``:
    the weights are used with their columns pre-scaled, one exponential over the ``(B, 4H)``
    block gives all four gates; the gradients are those of the unscaled weights. Any other
    pair takes the general step, which applies ρ and α block by block.
    """

    kind = "lstm"
    n_gates = 4
    state_names = ("h", "c")

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.activation, self._act, self._dact = self._cell_activation(activation, "activation")
        self.recurrent_activation, self._ract, self._dract = self._cell_activation(
            recurrent_activation, "recurrent_activation")
        self._fused = (self.activation, self.recurrent_activation) == ("tanh", "sigmoid")
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
        """The fused block's column constants, each ``(4H,)`` (see ``shapeviz.core.gates``):
        ``scale`` is ``-κ`` on the σ columns i, f, o and ``-2κ`` on the tanh column g;
        ``tanh_cols`` is 1 on g, 0 elsewhere, so that ``dgate/dz = (1 - gate)·(gate + tanh_cols)``."""
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
        if not self._fused:
            return super().project_inputs(xin, S)  # (T, B, 4H) plain pre-activations
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
        if not self._fused:
            return {
                "tanh_c": self.workspace.empty((T, B, H), like=like),  # α(c_t) per step, kept for backward
                "wide": empty((B, 4 * H), like=like), "h_drop": empty((B, H), like=like),
            }
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
        if not self._fused:
            return self._step_general(t, xw, S, bufs, rdp)
        H = self.units
        h_prev = S[0][t]  # (B, H)
        if rdp is not None:
            h_prev = np.multiply(h_prev, rdp, out=bufs["h_drop"])  # (B, H) h' = h_{t-1} * rdp
        gates = xw[t]  # (B, 4H) view: -κ·(x_t W + b) in, gates out
        gates += np.matmul(h_prev, bufs["recurrent_kernel"], out=bufs["wide"])  # (B, 4H) -κ·z (-2κ·z on g)
        sigmoid_inplace(gates)  # (B, 4H) i, f, o = σ(z_i), σ(z_f), σ(z_o); σ(2 z_g) on g
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
        g *= 2.0  # (B, H)
        g -= 1.0  # (B, H) g = 2σ(2z_g) - 1 = tanh(z_g)
        c = np.multiply(f, S[1][t], out=S[1][t + 1])  # (B, H) c_t = f * c_{t-1} ...
        c += np.multiply(i, g, out=bufs["narrow"])  # (B, H) ... + i * g
        tanh_c = tanh_into(c, bufs["tanh_c"][t])  # (B, H) tanh(c_t)
        np.multiply(o, tanh_c, out=S[0][t + 1])  # (B, H) h_t = o * tanh(c_t)

    def _step_general(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        H = self.units
        h_prev = S[0][t]  # (B, H)
        if rdp is not None:
            h_prev = np.multiply(h_prev, rdp, out=bufs["h_drop"])  # (B, H) h' = h_{t-1} * rdp
        gates = xw[t]  # (B, 4H) view: x_t W + b in, gates out
        gates += np.matmul(h_prev, self.params["recurrent_kernel"], out=bufs["wide"])  # (B, 4H) z
        gates[:, :2 * H] = self._ract(gates[:, :2 * H])  # (B, 2H) i, f = ρ(z_i), ρ(z_f)
        gates[:, 2 * H:3 * H] = self._act(gates[:, 2 * H:3 * H])  # (B, H) g = α(z_g)
        gates[:, 3 * H:] = self._ract(gates[:, 3 * H:])  # (B, H) o = ρ(z_o)
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
        c = np.multiply(f, S[1][t], out=S[1][t + 1])  # (B, H) c_t = f * c_{t-1} ...
        c += i * g  # (B, H) ... + i * g
        act_c = bufs["tanh_c"][t]  # (B, H)
        act_c[...] = self._act(c)  # (B, H) α(c_t)
        np.multiply(o, act_c, out=S[0][t + 1])  # (B, H) h_t = o * α(c_t)

    def step_backward(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                      dxw: Any, drec: Any) -> list:
        # dS's arrays belong to the time loop (fresh or returned by the previous step), so
        # they are updated in place and returned as the gradients of S[i][t].
        if not self._fused:
            return self._step_backward_general(t, dS, xw, S, bufs, rdp, dxw)
        H = self.units
        dh, dc = dS  # (B, H) each
        gates = xw[t]  # (B, 4H)
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
        tanh_c = bufs["tanh_c"][t]  # (B, H)
        dz = dxw[t]  # (B, 4H) view: d(gates), then d(pre-activations)
        np.multiply(dh, tanh_c, out=dz[:, 3 * H:])  # (B, H) do = dh * tanh(c_t)
        tmp = np.multiply(tanh_c, tanh_c, out=bufs["narrow"])  # (B, H)
        np.subtract(1.0, tmp, out=tmp)  # (B, H)
        tmp *= o  # (B, H)
        tmp *= dh  # (B, H)
        dc += tmp  # (B, H) dc_t += dh * o * (1 - tanh²(c_t))
        np.multiply(dc, g, out=dz[:, :H])  # (B, H) di = dc_t * g
        np.multiply(dc, S[1][t], out=dz[:, H:2 * H])  # (B, H) df = dc_t * c_{t-1}
        np.multiply(dc, i, out=dz[:, 2 * H:3 * H])  # (B, H) dg = dc_t * i
        dc *= f  # (B, H) dc_{t-1} = dc_t * f
        deriv = np.subtract(1.0, gates, out=bufs["wide"])  # (B, 4H)
        deriv *= np.add(gates, bufs["tanh_cols"], out=bufs["wide2"])  # (B, 4H) σ' = σ(1-σ) on i, f, o; 1-g² on g
        dz *= deriv  # (B, 4H) dz = d(gates) * gate'
        np.matmul(dz, self.params["recurrent_kernel"].T, out=dh)  # (B, H) dh' = dz @ U^T
        if rdp is not None:
            dh *= rdp  # (B, H) dh_{t-1} = dh' * rdp
        return [dh, dc]

    def _step_backward_general(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                               dxw: Any) -> list:
        H = self.units
        dh, dc = dS  # (B, H) each
        gates = xw[t]  # (B, 4H)
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]  # (B, H) each
        act_c = bufs["tanh_c"][t]  # (B, H)
        dz = dxw[t]  # (B, 4H) view: d(gates), then d(pre-activations)
        dz[:, 3 * H:] = dh * act_c  # (B, H) do = dh * α(c_t)
        dc += self._dact(act_c, dh * o)  # (B, H) dc_t += dh * o * α'(c_t)
        dz[:, :H] = dc * g  # (B, H) di = dc_t * g
        dz[:, H:2 * H] = dc * S[1][t]  # (B, H) df = dc_t * c_{t-1}
        dz[:, 2 * H:3 * H] = dc * i  # (B, H) dg = dc_t * i
        dc *= f  # (B, H) dc_{t-1} = dc_t * f
        dz[:, :2 * H] = self._dract(gates[:, :2 * H], dz[:, :2 * H])  # (B, 2H) dz_i, dz_f = d(i, f) * ρ'
        dz[:, 2 * H:3 * H] = self._dact(g, dz[:, 2 * H:3 * H])  # (B, H) dz_g = dg * α'
        dz[:, 3 * H:] = self._dract(o, dz[:, 3 * H:])  # (B, H) dz_o = do * ρ'
        np.matmul(dz, self.params["recurrent_kernel"].T, out=dh)  # (B, H) dh' = dz @ U^T
        if rdp is not None:
            dh *= rdp  # (B, H) dh_{t-1} = dh' * rdp
        return [dh, dc]

    def config(self) -> dict[str, Any]:
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation,
                "unit_forget_bias": self.unit_forget_bias, **super().config()}
