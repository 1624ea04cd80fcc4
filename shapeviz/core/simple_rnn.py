"""SimpleRNN: h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.core.backend import empty
from shapeviz.core.gates import tanh_into
from shapeviz.core.layer import check_choice
from shapeviz.core.recurrent import Recurrent


class SimpleRNN(Recurrent):
    """The Elman RNN, Keras's SimpleRNN. ``activation`` is ``"tanh"`` (default) or ``"relu"``.

    The pre-activation of step t is computed in the state buffer, where ``h_t`` then
    replaces it: the backward pass needs only ``h_t`` (``tanh' = 1 - h_t²``), so the
    layer keeps one ``(T+1, B, H)`` buffer for BPTT and nothing else.
    """

    kind = "simple_rnn"
    n_gates = 1

    def __init__(self, units: int, activation: str = "tanh", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.activation = check_choice(activation, "activation", f"SimpleRNN {self.name!r}", ("tanh", "relu"))

    def project_inputs(self, xin: Any, S: tuple) -> Any:
        T, B, F = xin.shape
        H = self.units
        xw = S[0][1:]  # (T, B, H) view: z_t is written where h_t will be
        np.matmul(xin.reshape(T * B, F), self.params["kernel"], out=xw.reshape(T * B, H))  # (T*B, H)
        if self.use_bias:
            xw += self.params["bias"]  # (T, B, H)
        return xw

    def alloc(self, T: Any, B: Any, like: Any) -> dict:
        return {"narrow": empty((B, self.units), like=like)}  # (B, H) scratch

    def step(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        h_prev = S[0][t]  # (B, H)
        if rdp is not None:
            h_prev = h_prev * rdp  # (B, H)
        z = xw[t]  # (B, H) view of S[0][t + 1]
        z += np.matmul(h_prev, self.params["recurrent_kernel"], out=bufs["narrow"])  # (B, H)
        if self.activation == "tanh":
            tanh_into(z, z)  # (B, H) h_t
        else:
            np.maximum(z, 0.0, out=z)  # (B, H) h_t

    def step_backward(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                      dxw: Any, drec: Any) -> list:
        h = S[0][t + 1]  # (B, H)
        dz = dxw[t]  # (B, H) view
        if self.activation == "tanh":
            np.multiply(h, h, out=dz)
            np.subtract(1.0, dz, out=dz)
            dz *= dS[0]  # (B, H)
        else:
            np.multiply(dS[0], h > 0, out=dz)  # (B, H)
        dh_prev = dz @ self.params["recurrent_kernel"].T  # (B, H)
        if rdp is not None:
            dh_prev *= rdp
        return [dh_prev]

    def config(self) -> dict[str, Any]:
        return {"activation": self.activation, **super().config()}
