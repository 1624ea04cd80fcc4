"""GRU: Keras's gated recurrent unit, gates z, r, h; reset_after=True (the PyTorch/cuDNN
formulation, Keras's default) or False (Keras 2 before 2.3, tf.keras 1.x)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.core.backend import empty
from shapeviz.core.gates import exponential, sigmoid_inplace, tanh_into
from shapeviz.core.recurrent import Recurrent


class GRU(Recurrent):
    """Keras's GRU (weights ``kernel (F, 3H)``, ``recurrent_kernel (H, 3H)`` and ``bias``:
    ``(2, 3H)`` with reset_after, row 0 the input bias and row 1 the recurrent bias, else ``(3H,)``).

    With ``reset_after=True``: ``mx = x_t @ kernel + bias[0]``, ``mh = h'_{t-1} @
    recurrent_kernel + bias[1]`` (``h'`` is ``h`` after the recurrent dropout mask), split
    into z, r, h blocks; ``z = ρ(mx_z + mh_z)``, ``r = ρ(mx_r + mh_r)``,
    ``hh = α(mx_h + r * mh_h)``, ``h_t = z * h_{t-1} + (1 - z) * hh``.

    With ``reset_after=False`` the reset gate acts before the recurrent matmul of the
    candidate: ``mx = x_t @ kernel + bias``, ``z = ρ(mx_z + h' @ U_z)``, ``r = ρ(mx_r + h' @ U_r)``,
    ``hh = α(mx_h + (r * h') @ U_h)``, ``h_t = z * h_{t-1} + (1 - z) * hh``.

    ``α`` is ``activation`` (tanh), ``ρ`` is ``recurrent_activation`` (sigmoid).

    Args:
        units: state size H.
        activation: α, one of ``activations.CELL_ACTIVATIONS`` (default tanh).
        recurrent_activation: ρ, likewise (default sigmoid; Keras 2's default was
            hard_sigmoid, which is ``"hard_sigmoid_keras2"`` here).
        reset_after: apply the reset gate after the recurrent matmul (default, as Keras 2.3+).
        **kwargs: the options of ``Recurrent`` (return_sequences, dropout, time_major, ...).

    With the defaults (tanh, sigmoid, reset_after) the step is the fused one of
    ``shapeviz.core.gates`` (the z and r columns of the weights pre-scaled, one exponential
    for both gates); any other choice takes the general step. In both, the z, r part of
    ``bias[1]`` is added once with the input projection, since r does not multiply it; only
    ``mh_h`` stays apart, kept per step for the gradient of r.
    """

    kind = "gru"
    n_gates = 3
    state_names = ("h",)

    def __init__(self, units: int, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.activation, self._act, self._dact = self._cell_activation(activation, "activation")
        self.recurrent_activation, self._ract, self._dract = self._cell_activation(
            recurrent_activation, "recurrent_activation")
        self.reset_after = bool(reset_after)
        self._fused = (self.activation, self.recurrent_activation, self.reset_after) == ("tanh", "sigmoid", True)

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _scaled(self, w: Any) -> Any:
        """``w`` with its z and r columns (the first 2H of the last axis) multiplied by ``-κ``
        on the fused path; ``w`` itself on the general one."""
        if not self._fused:
            return w
        H = self.units
        ws = w * -exponential(w.dtype)[1]  # (..., 3H)
        ws[..., 2 * H:] = w[..., 2 * H:]  # (..., H)
        return ws

    def project_inputs(self, xin: Any, S: tuple) -> Any:
        if not self.reset_after:
            return super().project_inputs(xin, S)  # (T, B, 3H) x_t W + b
        T, B, F = xin.shape
        H = self.units
        xw = self.workspace.empty((T, B, 3 * H), like=xin, dtype=self.dtype)  # (T, B, 3H)
        np.matmul(xin.reshape(T * B, F), self._scaled(self.params["kernel"]), out=xw.reshape(T * B, 3 * H))
        if self.use_bias:
            b = self.params["bias"]  # (2, 3H)
            bx = b[0] * 1.0  # (3H,) input bias
            # the z, r part of the recurrent bias is not gated by r: add it here, once
            bx[:2 * H] += b[1, :2 * H]  # (2H,)
            xw += self._scaled(bx)  # (T, B, 3H)
        return xw

    def alloc(self, T: Any, B: Any, like: Any) -> dict:
        H = self.units
        bufs = {
            # per-forward constants and (B, ·) scratch reused by every step
            "recurrent_kernel": self._scaled(self.params["recurrent_kernel"]),  # (H, 3H)
            "wide": empty((B, 3 * H), like=like), "zr": empty((B, 2 * H), like=like),
            "narrow": empty((B, H), like=like), "h_drop": empty((B, H), like=like),
        }
        if self.reset_after:  # h'_{t-1} @ U_h + b_h per step, kept for backward (r multiplies it)
            bufs["mh_h"] = self.workspace.empty((T, B, H), like=like)
        return bufs

    def step(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        if not self._fused:
            return self._step_general(t, xw, S, bufs, rdp)
        H = self.units
        h_prev = S[0][t]  # (B, H)
        hd = h_prev if rdp is None else np.multiply(h_prev, rdp, out=bufs["h_drop"])  # (B, H) h' = h_{t-1} * rdp
        gates = xw[t]  # (B, 3H) view: mx (z, r columns times -κ) in, gates z, r, hh out
        mh = np.matmul(hd, bufs["recurrent_kernel"], out=bufs["wide"])  # (B, 3H) h' U (z, r columns times -κ)
        zr = gates[:, :2 * H]  # (B, 2H)
        zr += mh[:, :2 * H]  # (B, 2H) -κ·(mx + mh) on z, r
        sigmoid_inplace(zr)  # (B, 2H) z = σ(mx_z + mh_z), r = σ(mx_r + mh_r)
        z, r = gates[:, :H], gates[:, H:2 * H]  # (B, H) each
        mh_h = bufs["mh_h"][t]  # (B, H)
        if self.use_bias:
            np.add(mh[:, 2 * H:], self.params["bias"][1, 2 * H:], out=mh_h)  # (B, H) mh_h = h' U_h + b_h
        else:
            mh_h[...] = mh[:, 2 * H:]  # (B, H) mh_h = h' U_h
        hh = gates[:, 2 * H:]  # (B, H)
        hh += np.multiply(r, mh_h, out=bufs["narrow"])  # (B, H) mx_h + r * mh_h
        tanh_into(hh, hh)  # (B, H) hh = tanh(mx_h + r * mh_h)
        h = np.subtract(h_prev, hh, out=S[0][t + 1])  # (B, H)
        h *= z  # (B, H)
        h += hh  # (B, H) h_t = z * h_{t-1} + (1 - z) * hh

    def _step_general(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        H = self.units
        U = self.params["recurrent_kernel"]  # (H, 3H)
        h_prev = S[0][t]  # (B, H)
        hd = h_prev if rdp is None else np.multiply(h_prev, rdp, out=bufs["h_drop"])  # (B, H) h' = h_{t-1} * rdp
        gates = xw[t]  # (B, 3H) view: mx in, gates z, r, hh out
        zr = gates[:, :2 * H]  # (B, 2H)
        zr += hd @ U[:, :2 * H]  # (B, 2H) mx_z + h' U_z, mx_r + h' U_r (+ bias[1] on z, r)
        zr[...] = self._ract(zr)  # (B, 2H) z, r = ρ(·)
        z, r = gates[:, :H], gates[:, H:2 * H]  # (B, H) each
        hh = gates[:, 2 * H:]  # (B, H)
        if self.reset_after:
            mh_h = bufs["mh_h"][t]  # (B, H)
            mh_h[...] = hd @ U[:, 2 * H:]  # (B, H) mh_h = h' U_h ...
            if self.use_bias:
                mh_h += self.params["bias"][1, 2 * H:]  # (B, H)  ... + b_h
            hh += r * mh_h  # (B, H) mx_h + r * mh_h
        else:
            hh += (r * hd) @ U[:, 2 * H:]  # (B, H) mx_h + (r * h') U_h
        hh[...] = self._act(hh)  # (B, H) hh = α(·)
        h = np.subtract(h_prev, hh, out=S[0][t + 1])  # (B, H)
        h *= z  # (B, H)
        h += hh  # (B, H) h_t = z * h_{t-1} + (1 - z) * hh

    def step_backward(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                      dxw: Any, drec: Any) -> list:
        # dS[0] belongs to the time loop (fresh or returned by the previous step): it is
        # overwritten with, and returned as, the gradient of h_{t-1}.
        if not self._fused:
            return self._step_backward_general(t, dS, xw, S, bufs, rdp, dxw, drec)
        H = self.units
        dh = dS[0]  # (B, H)
        gates = xw[t]  # (B, 3H)
        zr, z, r, hh = gates[:, :2 * H], gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
        dx = dxw[t]  # (B, 3H) view: d(mx)
        dr = drec[t]  # (B, 3H) view: d(mh)
        np.subtract(S[0][t], hh, out=dx[:, :H])  # (B, H)
        dx[:, :H] *= dh  # (B, H) dz = dh * (h_{t-1} - hh)
        dpre_h = np.multiply(hh, hh, out=dx[:, 2 * H:])  # (B, H)
        np.subtract(1.0, dpre_h, out=dpre_h)  # (B, H)
        dpre_h *= dh  # (B, H)
        dpre_h *= np.subtract(1.0, z, out=bufs["narrow"])  # (B, H) d(mx_h + r * mh_h) = dh (1 - z)(1 - hh²)
        np.multiply(dpre_h, bufs["mh_h"][t], out=dx[:, H:2 * H])  # (B, H) dr = d(pre h) * mh_h
        deriv = np.subtract(1.0, zr, out=bufs["zr"])  # (B, 2H)
        deriv *= zr  # (B, 2H) σ' = σ(1 - σ)
        dx[:, :2 * H] *= deriv  # (B, 2H) d(pre z), d(pre r)
        dr[:, :2 * H] = dx[:, :2 * H]  # (B, 2H) d(mh_z), d(mh_r)
        np.multiply(dpre_h, r, out=dr[:, 2 * H:])  # (B, H) d(mh_h) = d(pre h) * r
        direct = np.multiply(dh, z, out=bufs["narrow"])  # (B, H) dh * z
        np.matmul(dr, self.params["recurrent_kernel"].T, out=dh)  # (B, H) dh' = d(mh) @ U^T
        if rdp is not None:
            dh *= rdp  # (B, H)
        dh += direct  # (B, H) dh_{t-1} = dh' * rdp + dh * z
        return [dh]

    def _step_backward_general(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                               dxw: Any, drec: Any) -> list:
        H = self.units
        U = self.params["recurrent_kernel"]  # (H, 3H)
        dh = dS[0]  # (B, H)
        h_prev = S[0][t]  # (B, H)
        hd = h_prev if rdp is None else h_prev * rdp  # (B, H) h'
        gates = xw[t]  # (B, 3H)
        z, r, hh = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]  # (B, H) each
        dx = dxw[t]  # (B, 3H) view: d(mx)
        dx[:, :H] = dh * (h_prev - hh)  # (B, H) dz = dh * (h_{t-1} - hh)
        dpre_h = dx[:, 2 * H:]  # (B, H)
        dpre_h[...] = self._dact(hh, dh * (1.0 - z))  # (B, H) d(pre h) = dh (1 - z) α'
        if self.reset_after:
            dx[:, H:2 * H] = dpre_h * bufs["mh_h"][t]  # (B, H) dr = d(pre h) * mh_h
            drec[t][:, 2 * H:] = dpre_h * r  # (B, H) d(mh_h) = d(pre h) * r
        else:
            d_rh = dpre_h @ U[:, 2 * H:].T  # (B, H) d(r * h') = d(pre h) @ U_h^T
            dx[:, H:2 * H] = d_rh * hd  # (B, H) dr = d(r * h') * h'
        dx[:, :2 * H] = self._dract(gates[:, :2 * H], dx[:, :2 * H])  # (B, 2H) d(pre z), d(pre r)
        if self.reset_after:
            drec[t][:, :2 * H] = dx[:, :2 * H]  # (B, 2H) d(mh_z), d(mh_r)
            dhd = drec[t] @ U.T  # (B, H) dh' = d(mh) @ U^T
        else:  # drec is dxw: the h block's matmul output is the pre-activation itself
            dhd = dx[:, :2 * H] @ U[:, :2 * H].T + d_rh * r  # (B, H) dh' = d(pre z, r) @ U_zr^T + d(r h') r
        if rdp is not None:
            dhd *= rdp  # (B, H)
        dhd += dh * z  # (B, H) dh_{t-1} = dh' * rdp + dh * z
        return [dhd]

    def recurrent_grad_buffer(self, dxw: Any) -> Any:
        if not self.reset_after:  # the h block's recurrent matmul adds straight into the pre-activation
            return dxw
        return self.workspace.empty(dxw.shape, like=dxw)  # (T, B, 3H): d(mh) differs from d(mx) in the h block

    def accumulate_recurrent_kernel_grad(self, h_prev: Any, drec: Any, xw: Any) -> None:
        if self.reset_after:
            return super().accumulate_recurrent_kernel_grad(h_prev, drec, xw)
        # reset_after=False: U_z, U_r multiply h', U_h multiplies r * h'
        T, B, H = h_prev.shape
        d2 = drec.reshape(T * B, 3 * H)  # (T*B, 3H)
        G = self.grads["recurrent_kernel"]  # (H, 3H)
        G[:, :2 * H] += h_prev.reshape(T * B, H).T @ d2[:, :2 * H]  # (H, 2H)
        rh = xw[:, :, H:2 * H] * h_prev  # (T, B, H) r * h'
        G[:, 2 * H:] += rh.reshape(T * B, H).T @ d2[:, 2 * H:]  # (H, H)

    def accumulate_bias_grad(self, dxw: Any, drec: Any) -> None:
        if not self.reset_after:
            return super().accumulate_bias_grad(dxw, drec)
        self.grads["bias"][0] += dxw.sum(axis=(0, 1))  # (3H,)
        self.grads["bias"][1] += drec.sum(axis=(0, 1))  # (3H,)

    def config(self) -> dict[str, Any]:
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation,
                "reset_after": self.reset_after, **super().config()}
