"""GRU: Keras's gated recurrent unit with reset_after=True (the PyTorch/cuDNN formulation), gates z, r, h."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.core.backend import empty
from shapeviz.core.gates import exponential, sigmoid_inplace, tanh_into
from shapeviz.core.recurrent import Recurrent
from shapeviz.errors import ConfigError


class GRU(Recurrent):
    """Keras's GRU with ``reset_after=True`` (weights ``kernel (F, 3H)``, ``recurrent_kernel
    (H, 3H)``, ``bias (2, 3H)``: row 0 the input bias, row 1 the recurrent bias).

    ``mx = x_t @ kernel + bias[0]``, ``mh = h'_{t-1} @ recurrent_kernel + bias[1]`` (``h'`` is
    ``h`` after the recurrent dropout mask), split into z, r, h blocks;
    ``z = σ(mx_z + mh_z)``, ``r = σ(mx_r + mh_r)``, ``hh = tanh(mx_h + r * mh_h)``,
    ``h_t = z * h_{t-1} + (1 - z) * hh``.

    Args:
        units: state size H.
        reset_after: must be True; the reset gate is applied after the recurrent matmul.
        **kwargs: the options of ``Recurrent`` (return_sequences, dropout, time_major, ...).

    Inside a forward pass the z and r columns of the weights are used pre-multiplied by
    ``-κ`` (one exponential then gives both sigmoids, ``σ(a) = 1 / (1 + e^{-a})``, see
    ``shapeviz.core.gates``), and the z, r part of ``bias[1]`` is added once with the input
    projection, since it is not multiplied by r; only ``mh_h`` must stay apart, and it is
    kept per step for the gradient of r. The gradients are those of the unscaled weights.
    """

    kind = "gru"
    n_gates = 3
    state_names = ("h",)

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        if reset_after is not True:
            raise ConfigError(
                f"GRU {self.name!r}: received an invalid value for `reset_after`, only reset_after=True "
                f"(the PyTorch/cuDNN formulation, Keras's default) is supported, got {reset_after!r}"
            )
        self.reset_after = True

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units)

    def _scaled(self, w: Any) -> Any:
        """``w`` with its z and r columns (the first 2H of the last axis) multiplied by ``-κ``."""
        H = self.units
        ws = w * -exponential(w.dtype)[1]  # (..., 3H)
        ws[..., 2 * H:] = w[..., 2 * H:]  # (..., H)
        return ws

    def project_inputs(self, xin: Any, S: tuple) -> Any:
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
        return {
            "mh_h": self.workspace.empty((T, B, H), like=like),  # h_{t-1} @ U_h + b_h per step, kept for backward
            # per-forward constants and (B, ·) scratch reused by every step
            "recurrent_kernel": self._scaled(self.params["recurrent_kernel"]),  # (H, 3H)
            "wide": empty((B, 3 * H), like=like), "zr": empty((B, 2 * H), like=like),
            "narrow": empty((B, H), like=like), "h_drop": empty((B, H), like=like),
        }

    def step(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        H = self.units
        h_prev = S[0][t]  # (B, H)
        hd = h_prev if rdp is None else np.multiply(h_prev, rdp, out=bufs["h_drop"])  # (B, H)
        gates = xw[t]  # (B, 3H) view: mx in, gates z, r, hh out
        mh = np.matmul(hd, bufs["recurrent_kernel"], out=bufs["wide"])  # (B, 3H)
        zr = gates[:, :2 * H]  # (B, 2H)
        zr += mh[:, :2 * H]  # (B, 2H)
        sigmoid_inplace(zr)  # (B, 2H): z, r = σ
        z, r = gates[:, :H], gates[:, H:2 * H]  # (B, H) each
        mh_h = bufs["mh_h"][t]  # (B, H)
        if self.use_bias:
            np.add(mh[:, 2 * H:], self.params["bias"][1, 2 * H:], out=mh_h)  # (B, H)
        else:
            mh_h[...] = mh[:, 2 * H:]  # (B, H)
        hh = gates[:, 2 * H:]  # (B, H)
        hh += np.multiply(r, mh_h, out=bufs["narrow"])  # (B, H)
        tanh_into(hh, hh)  # (B, H)
        h = np.subtract(h_prev, hh, out=S[0][t + 1])  # (B, H)
        h *= z  # (B, H)
        h += hh  # (B, H): z * h_prev + (1 - z) * hh

    def step_backward(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                      dxw: Any, drec: Any) -> list:
        # dS[0] belongs to the time loop (fresh or returned by the previous step): it is
        # overwritten with, and returned as, the gradient of h_{t-1}.
        H = self.units
        dh = dS[0]  # (B, H)
        gates = xw[t]  # (B, 3H)
        zr, z, r, hh = gates[:, :2 * H], gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
        dx = dxw[t]  # (B, 3H) view: d(mx)
        dr = drec[t]  # (B, 3H) view: d(mh)
        np.subtract(S[0][t], hh, out=dx[:, :H])  # (B, H)
        dx[:, :H] *= dh  # (B, H) dz
        dpre_h = np.multiply(hh, hh, out=dx[:, 2 * H:])  # (B, H)
        np.subtract(1.0, dpre_h, out=dpre_h)  # (B, H)
        dpre_h *= dh  # (B, H)
        dpre_h *= np.subtract(1.0, z, out=bufs["narrow"])  # (B, H) d(mx_h + r * mh_h)
        np.multiply(dpre_h, bufs["mh_h"][t], out=dx[:, H:2 * H])  # (B, H) dr
        deriv = np.subtract(1.0, zr, out=bufs["zr"])  # (B, 2H)
        deriv *= zr  # (B, 2H) σ' = σ(1 - σ)
        dx[:, :2 * H] *= deriv  # (B, 2H) d(pre z, pre r)
        dr[:, :2 * H] = dx[:, :2 * H]  # (B, 2H)
        np.multiply(dpre_h, r, out=dr[:, 2 * H:])  # (B, H) d(mh_h)
        direct = np.multiply(dh, z, out=bufs["narrow"])  # (B, H)
        np.matmul(dr, self.params["recurrent_kernel"].T, out=dh)  # (B, H)
        if rdp is not None:
            dh *= rdp  # (B, H)
        dh += direct  # (B, H) dh_{t-1}
        return [dh]

    def recurrent_grad_buffer(self, dxw: Any) -> Any:
        return self.workspace.empty(dxw.shape, like=dxw)  # (T, B, 3H): d(mh) differs from d(mx) in the h block

    def accumulate_bias_grad(self, dxw: Any, drec: Any) -> None:
        self.grads["bias"][0] += dxw.sum(axis=(0, 1))  # (3H,)
        self.grads["bias"][1] += drec.sum(axis=(0, 1))  # (3H,)

    def config(self) -> dict[str, Any]:
        return {"reset_after": self.reset_after, **super().config()}
