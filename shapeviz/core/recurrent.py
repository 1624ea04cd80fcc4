"""The shared time loop of every recurrent layer; a cell subclass only does one step.

Layout inside the loop is time-major: ``x_tm`` is ``(T, B, F)``. Every state lives in
one ``(T+1, B, H)`` buffer ``S[i]`` with the initial state at index 0 and the state
after step ``t`` at ``t+1``, so the step reads ``S[i][t]``, writes ``S[i][t+1]``, and
after the loop ``S[0][:-1]`` is the contiguous ``(T*B, H)`` operand of the one big
recurrent-kernel gradient matmul.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from shapeviz.core import activations, initializers
from shapeviz.core.backend import dropout_mask, empty, recorder, timesteps, zeros
from shapeviz.core.layer import Layer, check_positive_int, check_rate
from shapeviz.core.workspace import Workspace
from shapeviz.errors import ConfigError, InputError


def time_major_mask(mask: Any, B: Any, T: Any, owner: str) -> Any:
    """A (B, T) mask as the (T, B, 1) bool array the time loop reads, or None; a mask of any
    other shape is an InputError naming ``owner``."""
    if mask is None:
        return None
    if len(mask.shape) != 2 or mask.shape[0] != B or mask.shape[1] != T:
        raise InputError(f"{owner}: the mask must have shape (B, T) = ({B}, {T}), got {tuple(mask.shape)}")
    return mask.T[:, :, None].astype(bool)  # (T, B, 1)


class RecurrentCache(NamedTuple):
    xin: Any  # (T, B, F) inputs in processing order, after input dropout
    xw: Any  # (T, B, kH) the cell's per-step buffer (pre-activations, then gates)
    S: tuple  # per state, (T+1, B, H)
    bufs: dict  # the cell's other per-step buffers
    dp: Any  # (B, F) input dropout keep mask or None
    rdp: Any  # (B, H) recurrent dropout keep mask or None
    mask: Any  # (T, B, 1) bool in processing order, or None
    batch_first: bool


class Recurrent(Layer):
    """Base of SimpleRNN, LSTM and GRU: options, weights, masks, dropout and the time loop.

    Args:
        units: state size H.
        return_sequences: output every step ``(B, T, H)`` instead of the last ``(B, H)``.
        return_state: also return the final states (``h``, and ``c`` for LSTM).
        go_backwards: process the sequence in reverse; sequence outputs come out reversed, as in Keras.
        dropout: input dropout rate, one mask per sample shared by all steps (training only).
        recurrent_dropout: dropout rate on ``h_{t-1}`` in the recurrent matmul (training only).
        time_major: inputs and sequence outputs are ``(T, B, F)`` instead of ``(B, T, F)``.
        use_bias: add a bias (Keras's default); without it the layer has two weights.
        stateful: must be False: shapeviz runs every batch from zero (or given) initial
            states, so Keras's stateful=True is refused (pass ``initial_state``, or use
            truncated BPTT, instead).
        unroll: accepted and ignored: in Keras it only trades memory for speed on short
            sequences, the numbers are the same; shapeviz always runs its one time loop.

    A masked step carries every state through unchanged, so with return_sequences its
    output repeats the last output, as in Keras. One difference: before the first unmasked
    step the output is the initial state (zeros unless one is given), where Keras outputs
    zeros even after a non-zero initial state.

    The outputs are views of the buffers ``backward`` reads: copy them before editing in place.
    """

    n_gates: int = 1
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, units: int, *, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 time_major: bool = False, use_bias: bool = True, stateful: bool = False, unroll: bool = False,
                 kernel_initializer: str = "glorot_uniform", recurrent_initializer: str = "orthogonal",
                 bias_initializer: str = "zeros", name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name, dtype)
        owner = f"{type(self).__name__} {self.name!r}"
        self.units = check_positive_int(units, "units", owner)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.dropout = check_rate(dropout, "dropout", owner)
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout", owner)
        self.time_major = bool(time_major)
        self.use_bias = bool(use_bias)
        if stateful is not False:
            raise ConfigError(
                f"{owner}: received an invalid value for `stateful`, only stateful=False is supported "
                f"(shapeviz runs each batch from zero initial states; pass initial_state, or train with "
                f"truncated BPTT, to carry states across batches), got {stateful!r}"
            )
        self.stateful = False
        self.unroll = bool(unroll)  # the same numbers either way (see the class docstring)
        self._init_names = (kernel_initializer, recurrent_initializer, bias_initializer)
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer", owner)
        self.recurrent_initializer = initializers.get(recurrent_initializer, "recurrent_initializer", owner)
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer", owner)

    def _cell_activation(self, name: str, argument: str) -> tuple[str, Any, Any]:
        """``(name, forward, backward-from-output)`` of an ``activation`` or
        ``recurrent_activation`` option, or a ConfigError naming the choices."""
        fwd, dact = activations.get(name, f"{type(self).__name__} {self.name!r}", argument,
                                    activations.CELL_ACTIVATIONS)
        return name, fwd, dact

    @property
    def workspace(self) -> Workspace:
        """This layer's recycled per-pass buffers (see ``shapeviz.core.workspace``)."""
        ws = self.__dict__.get("_workspace")
        if ws is None:
            ws = self._workspace = Workspace()
        return ws

    # -- weights ------------------------------------------------------------------
    def bias_shape(self) -> tuple[int, ...]:
        return (self.n_gates * self.units,)

    def init_bias(self, rng: np.random.Generator) -> np.ndarray:
        return self.bias_initializer(rng, self.bias_shape(), self.dtype)

    def make_params(self, input_shape: tuple, rng: np.random.Generator) -> dict[str, np.ndarray]:
        self.input_features = int(input_shape[-1])
        kH = self.n_gates * self.units
        params = {
            "kernel": self.kernel_initializer(rng, (self.input_features, kH), self.dtype),
            "recurrent_kernel": self.recurrent_initializer(rng, (self.units, kH), self.dtype),
        }
        if self.use_bias:
            params["bias"] = self.init_bias(rng)
        return params

    def output_mask(self, mask: Any) -> Any:
        """The mask of the output sequence: with go_backwards the outputs come out in reverse
        order, so their mask is reversed too (Keras passes it on unreversed, which lets the next
        layer or a per-step loss read the padded steps)."""
        if not self.return_sequences or mask is None:
            return None
        return mask[:, ::-1] if self.go_backwards else mask

    # -- the cell (subclasses) ----------------------------------------------------
    def project_inputs(self, xin: Any, S: tuple) -> Any:
        """Input projection of all steps in one matmul. Args: xin: (T, B, F); S: the state
        buffers, each (T+1, B, H), which a cell may project into (SimpleRNN). Returns (T, B, kH)."""
        T, B, F = xin.shape
        kH = self.n_gates * self.units
        xw = self.workspace.empty((T, B, kH), like=xin, dtype=self.dtype)  # (T, B, kH)
        np.matmul(xin.reshape(T * B, F), self.params["kernel"], out=xw.reshape(T * B, kH))  # (T*B, kH)
        if self.use_bias:
            xw += self.params["bias"]  # (T, B, kH)
        return xw

    def alloc(self, T: Any, B: Any, like: Any) -> dict:
        """Per-step buffers beyond the states and ``xw`` (e.g. LSTM's tanh(c_t))."""
        return {}

    def step(self, t: Any, xw: Any, S: tuple, bufs: dict, rdp: Any) -> None:
        """One step: read ``S[i][t]`` and ``xw[t]``, write ``S[i][t+1]``."""
        raise NotImplementedError

    def step_backward(self, t: Any, dS: list, xw: Any, S: tuple, bufs: dict, rdp: Any,
                      dxw: Any, drec: Any) -> list:
        """Backward of one step: given ``dS`` (grads of ``S[i][t+1]``), write ``dxw[t]`` (and
        ``drec[t]`` when it differs) and return the grads of ``S[i][t]``."""
        raise NotImplementedError

    def recurrent_grad_buffer(self, dxw: Any) -> Any:
        """Where the gradient of the recurrent projection ``h_{t-1} @ U`` goes; the same as
        ``dxw`` unless the cell treats the two projections differently (GRU reset_after)."""
        return dxw

    def accumulate_recurrent_kernel_grad(self, h_prev: Any, drec: Any, xw: Any) -> None:
        """``grads["recurrent_kernel"] += h'^T @ d(recurrent projection)`` as one matmul over
        all steps. Args: h_prev: (T, B, H) the matmul's operand ``h'_{t-1}`` (after recurrent
        dropout); drec: (T, B, kH); xw: (T, B, kH) the forward's gates (GRU reset_after=False
        reads r there)."""
        T, B, H = h_prev.shape
        kH = drec.shape[-1]
        self.grads["recurrent_kernel"] += h_prev.reshape(T * B, H).T @ drec.reshape(T * B, kH)  # (H, kH)

    def accumulate_bias_grad(self, dxw: Any, drec: Any) -> None:
        self.grads["bias"] += dxw.sum(axis=(0, 1))  # (kH,)

    # -- forward ------------------------------------------------------------------
    def _prepare(self, x: Any, mask: Any, initial_state: Any, rng: Any) -> tuple[Any, Any, Any]:
        self.ensure_built(x, rng)
        layout = "(T, B, F)" if self.time_major else "(B, T, F)"
        self.check_features(x, (3,), layout)
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        x_tm = x if self.time_major else x.transpose(1, 0, 2)  # (T, B, F)
        T, B = x_tm.shape[0], x_tm.shape[1]
        mask_tm = time_major_mask(mask, B, T, f"layer {self.name!r} ({self.kind})")  # (T, B, 1) or None
        states = self._initial_states(initial_state, B, x_tm)
        if self.go_backwards:
            x_tm = x_tm[::-1]  # (T, B, F)
            if mask_tm is not None:
                mask_tm = mask_tm[::-1]
        return x_tm, mask_tm, states

    def _initial_states(self, initial_state: Any, B: Any, like: Any) -> list:
        n = len(self.state_names)
        if initial_state is None:
            return [None] * n
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if len(initial_state) != n:
            raise InputError(
                f"layer {self.name!r} ({self.kind}) takes {n} initial state(s) {list(self.state_names)}, "
                f"got {len(initial_state)}"
            )
        for name, s in zip(self.state_names, initial_state):
            if len(s.shape) != 2 or s.shape[0] != B or s.shape[1] != self.units:
                raise InputError(
                    f"layer {self.name!r} ({self.kind}): initial state {name!r} must have shape "
                    f"(B, H) = ({B}, {self.units}), got {tuple(s.shape)}"
                )
        return list(initial_state)

    @np.errstate(over="ignore")  # the cells' gate exponentials overflow to inf on purpose (σ = 0 there)
    def run(self, x_tm: Any, mask_tm: Any, states0: Sequence[Any], training: bool,
            rng: np.random.Generator | None) -> tuple[Any, list, RecurrentCache]:
        """The time loop. Args: x_tm: (T, B, F) in processing order; mask_tm: (T, B, 1) or None;
        states0: per state (B, H) or None for zeros. Returns (hs (T, B, H), final states, cache)."""
        T, B, F = x_tm.shape
        H = self.units
        dp = rdp = None
        if training and self.dropout > 0:
            dp = dropout_mask(self._rng(rng), (B, F), self.dropout, like=x_tm)  # (B, F)
        if training and self.recurrent_dropout > 0:
            rdp = dropout_mask(self._rng(rng), (B, H), self.recurrent_dropout, like=x_tm)  # (B, H)
        xin = x_tm * dp if dp is not None else x_tm  # (T, B, F)
        S = tuple(self.workspace.empty((T + 1, B, H), like=xin, dtype=self.dtype)
                  for _ in self.state_names)  # each (T+1, B, H)
        xw = self.project_inputs(xin, S)  # (T, B, kH)
        for buf, s0 in zip(S, states0):
            if s0 is None:
                buf[0] = 0.0
            else:
                buf[0] = s0
        bufs = self.alloc(T, B, xw)
        rec = recorder()  # the tracer's listener, None in a real run
        before = [(f"{n}_{{t-1}}", s) for n, s in zip(self.state_names, S)]  # names of what rec is shown
        after = [(f"{n}_t", s) for n, s in zip(self.state_names, S)]
        for t in timesteps(T):
            self.step(t, xw, S, bufs, rdp)
            if mask_tm is not None:
                m = mask_tm[t]  # (B, 1)
                for buf in S:
                    buf[t + 1] = np.where(m, buf[t + 1], buf[t])  # (B, H): a masked step carries the state
            if rec is not None:
                rec("forward", t, {"x_t": xin[t], **{n: s[t] for n, s in before}, "z_t": xw[t],
                                   **{n: s[t + 1] for n, s in after}, "y_t": S[0][t + 1]})
        cache = RecurrentCache(xin, xw, S, bufs, dp, rdp, mask_tm, not self.time_major)
        return S[0][1:], [buf[T] for buf in S], cache

    def _rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        if rng is None:
            raise ConfigError(
                f"layer {self.name!r} ({self.kind}) uses dropout in training: pass rng=np.random.default_rng(seed)"
            )
        return rng

    def forward(self, x: Any, *, mask: Any = None, initial_state: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, RecurrentCache]:
        """Args: x: (B, T, F) ((T, B, F) if time_major); mask: (B, T) bool; initial_state: per state (B, H).

        Returns ``y`` — ``(B, T, H)`` with return_sequences, else ``(B, H)`` — or, with
        return_state, ``(y, h_T[, c_T])``; and the cache for ``backward``."""
        x_tm, mask_tm, states0 = self._prepare(x, mask, initial_state, rng)
        hs, final, cache = self.run(x_tm, mask_tm, states0, training, rng)
        if self.return_sequences:
            y = hs if self.time_major else hs.transpose(1, 0, 2)  # (B, T, H)
        else:
            y = final[0]  # (B, H)
        out = (y, *final) if self.return_state else y
        return out, cache

    # -- backward -----------------------------------------------------------------
    def run_backward(self, dhs: Any, dfinal: Sequence[Any], cache: RecurrentCache) -> tuple[Any, list]:
        """BPTT through the loop. Args: dhs: (T, B, H) grads of every step's output (processing
        order) or None; dfinal: per state (B, H) or None. Returns (dxin (T, B, F), grads of states0)."""
        xin, xw, S, bufs, dp, rdp, mask_tm, _ = cache
        T, B, F = xin.shape
        H = self.units
        dS = [zeros((B, H), like=xw) if d is None else d.astype(self.dtype, copy=True) for d in dfinal]
        dxw = self.workspace.empty(xw.shape, like=xw)  # (T, B, kH)
        drec = self.recurrent_grad_buffer(dxw)
        rec = recorder()  # the tracer's listener, None in a real run
        d_after = [f"d{n}_t" for n in self.state_names]  # names of what rec is shown
        d_before = [f"d{n}_{{t-1}}" for n in self.state_names]
        for t in timesteps(T, reverse=True):
            if dhs is not None:
                dS[0] += dhs[t]  # (B, H): dS's arrays belong to this loop
            incoming = dS  # the step's total state gradients (their shapes are recorded with its results)
            if mask_tm is not None:
                m = mask_tm[t]  # (B, 1)
                carried = [np.where(m, 0.0, d) for d in dS]  # (B, H) each
                dS = [np.where(m, d, 0.0) for d in dS]
                dprev = self.step_backward(t, dS, xw, S, bufs, rdp, dxw, drec)
                dS = [a + b for a, b in zip(dprev, carried)]
            else:
                dS = self.step_backward(t, dS, xw, S, bufs, rdp, dxw, drec)
            if rec is not None:
                rec("backward", t, {**({"dy_t": dhs[t]} if dhs is not None else {}), **dict(zip(d_after, incoming)),
                                    "dz_t": dxw[t], **dict(zip(d_before, dS))})
        # weight gradients: one big matmul each, after the loop
        kH = self.n_gates * H
        dxw2 = dxw.reshape(T * B, kH)  # (T*B, kH)
        self.grads["kernel"] += xin.reshape(T * B, F).T @ dxw2  # (F, kH)
        h_prev = S[0][:-1]  # (T, B, H)
        if rdp is not None:
            h_prev = h_prev * rdp  # (T, B, H)
        self.accumulate_recurrent_kernel_grad(h_prev, drec, xw)
        if self.use_bias:
            self.accumulate_bias_grad(dxw, drec)
        dxin = (dxw2 @ self.params["kernel"].T).reshape(T, B, F)  # (T, B, F)
        if dp is not None:
            dxin *= dp
        return dxin, dS

    def backward_with_state(self, dout: Any, cache: RecurrentCache) -> tuple[Any, list]:
        """Like ``backward``, and also the gradients of the initial states. ``dout`` mirrors the
        forward output: ``dy``, or ``(dy, dh_T[, dc_T])`` with return_state (``None`` for no gradient)."""
        n = len(self.state_names)
        if self.return_state:
            dy, *dfinal = dout
            dfinal = list(dfinal)
        else:
            dy, dfinal = dout, [None] * n
        dhs = None
        if dy is not None:
            if self.return_sequences:
                dhs = dy if self.time_major else dy.transpose(1, 0, 2)  # (T, B, H)
            else:
                dfinal[0] = dy if dfinal[0] is None else dfinal[0] + dy
        dxin, dstates0 = self.run_backward(dhs, dfinal, cache)
        if self.go_backwards:
            dxin = dxin[::-1]
        dx = dxin if self.time_major else dxin.transpose(1, 0, 2)  # (B, T, F)
        return dx, dstates0

    def backward(self, dout: Any, cache: RecurrentCache) -> Any:
        return self.backward_with_state(dout, cache)[0]

    def config(self) -> dict[str, Any]:
        return {
            "units": self.units, "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout, "time_major": self.time_major,
            "use_bias": self.use_bias, "stateful": self.stateful, "unroll": self.unroll,
            "kernel_initializer": self._init_names[0],
            "recurrent_initializer": self._init_names[1], "bias_initializer": self._init_names[2],
            "name": self.name,
        }
