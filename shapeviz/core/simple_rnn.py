"""SimpleRNN: h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.core.layer import check_choice
from shapeviz.core.recurrent import Recurrent


class SimpleRNN(Recurrent):
    """The Elman RNN, Keras's SimpleRNN. ``activation`` is ``"tanh"`` (default) or ``"relu"``."""

    kind = "simple_rnn"
    n_gates = 1

    def __init__(self, units: int, activation: str = "tanh", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.activation = check_choice(activation, "activation", f"SimpleRNN {self.name!r}", ("tanh", "relu"))

    def step(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        h_prev = S[0][t]  # (B, H)
        if rdp is not None:
            h_prev = h_prev * rdp  # (B, H)
        z = xw[t]  # (B, H) view
        z += h_prev @ self.params["recurrent_kernel"]  # (B, H)
        if self.activation == "tanh":
            np.tanh(z, out=S[0][t + 1])  # (B, H)
        else:
            np.maximum(z, 0.0, out=S[0][t + 1])  # (B, H)

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
