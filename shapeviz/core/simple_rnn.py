"""SimpleRNN: h_t = α(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.core.backend import empty
from shapeviz.core.gates import tanh_into
from shapeviz.core.recurrent import Recurrent


class SimpleRNN(Recurrent):
    """The Elman RNN, Keras's SimpleRNN: ``h_t = α(x_t @ kernel + h'_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: state size H.
        activation: α, one of ``activations.CELL_ACTIVATIONS`` (default tanh; tanh and relu
            are evaluated in place, the others through ``shapeviz.core.activations``).
        **kwargs: the options of ``Recurrent`` (return_sequences, dropout, time_major, ...).

    The pre-activation of step t is computed in the state buffer, where ``h_t`` then
    replaces it: the backward pass needs only ``h_t`` (``tanh' = 1 - h_t²``), so the
    layer keeps one ``(T+1, B, H)`` buffer for BPTT and nothing else (every activation's
    derivative is a function of its output).
    """

    kind = "simple_rnn"
    n_gates = 1

    def __init__(self, units: int, activation: str = "tanh", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.activation, self._act, self._dact = self._cell_activation(activation, "activation")

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
            h_prev = h_prev * rdp  # (B, H) h' = h_{t-1} * rdp
        z = xw[t]  # (B, H) view of S[0][t + 1]: x_t W + b in, h_t out
        z += np.matmul(h_prev, self.params["recurrent_kernel"], out=bufs["narrow"])  # (B, H) z = x_t W + h' U + b
        if self.activation == "tanh":
            tanh_into(z, z)  # (B, H) h_t = tanh(z)
        elif self.activation == "relu":
            np.maximum(z, 0.0, out=z)  # (B, H) h_t = relu(z)
        else:
            z[...] = self._act(z)  # (B, H) h_t = α(z)

    def step_backward(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                      dxw: Any, drec: Any) -> list:
        h = S[0][t + 1]  # (B, H)
        dz = dxw[t]  # (B, H) view
        if self.activation == "tanh":
            np.multiply(h, h, out=dz)
            np.subtract(1.0, dz, out=dz)
            dz *= dS[0]  # (B, H) dz = dh * (1 - h_t²)
        elif self.activation == "relu":
            np.multiply(dS[0], h > 0, out=dz)  # (B, H) dz = dh * [h_t > 0]
        else:
            dz[...] = self._dact(h, dS[0])  # (B, H) dz = dh * α'(z), read from h_t
        dh_prev = dz @ self.params["recurrent_kernel"].T  # (B, H) dh' = dz @ U^T
        if rdp is not None:
            dh_prev *= rdp  # (B, H) dh_{t-1} = dh' * rdp
        return [dh_prev]

    def config(self) -> dict[str, Any]:
        return {"activation": self.activation, **super().config()}
