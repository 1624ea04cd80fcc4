"""Losses: the mean loss over samples (and unmasked timesteps) and its gradient.

Every loss reduces the last axis (classes or features) per *position*, then averages
over positions: a ``(B, C)`` prediction has ``B`` positions, a ``(B, T, C)`` one has
``B*T``. A mask of the positions' shape ((B,) or (B, T)) averages over the unmasked
ones only. ``forward`` returns ``(loss, cache)``; ``backward(cache)`` is the gradient of
that mean with respect to ``y_pred``.

The names follow Keras: ``"categorical_crossentropy"`` and
``"sparse_categorical_crossentropy"`` expect *probabilities* (a ``Dense(C,
activation="softmax")`` head), as their Keras namesakes do; for a linear head use
``SoftmaxCrossEntropy()`` (``from_logits=True``). A probability loss fed values outside
``[0, 1]`` is an InputError that says so, instead of training on nonsense.

Past 400 lines for one reason: every loss shares the reduction over positions and masks and the
checks of its targets (shapes, ids, one-hot rows); one module keeps those rules in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np

from shapeviz.core.activations import sigmoid
from shapeviz.errors import ConfigError, InputError

EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [eps, 1 - eps]


def _is_real(a: Any) -> bool:
    """Value checks (ranges, NaN) run only on real numpy arrays, never on symbolic ones."""
    return isinstance(a, np.ndarray)


def _scalar(x: Any) -> Any:
    """A Python float for a concrete result; a symbolic result is passed through."""
    return float(x) if isinstance(x, (np.ndarray, np.generic, float, int)) else x


def _shape(a: Any) -> tuple:
    return tuple(a.shape)


def _as(a: Any, dtype: Any) -> Any:
    """``a`` in ``dtype``, without a copy when it already is (int targets would promote to float64)."""
    return a if a.dtype == dtype else a.astype(dtype)


class _Reduction(NamedTuple):
    w: Any  # (positions) float weights (the mask) or None
    count: Any  # the number of positions averaged over
    denom: Any  # max(count, 1): an all-masked batch has loss 0 and gradient 0


class Loss:
    """Base class. Subclasses implement ``forward`` and ``backward``; classification losses
    also ``correct`` (for the accuracy metric)."""

    name: ClassVar[str] = "loss"
    metric_name: ClassVar[str | None] = None  # "accuracy" for the classification losses

    def forward(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[Any, Any]:
        """Args: y_pred: (B, C) or (B, T, C); y_true: the labels; mask: (B,) or (B, T) or None.
        Returns (mean loss as a float, cache for ``backward``)."""
        raise NotImplementedError

    def backward(self, cache: Any) -> Any:
        """The gradient of the mean loss with respect to ``y_pred``, shaped like it."""
        raise NotImplementedError

    def count(self, cache: Any) -> float:
        """How many positions the mean in ``cache`` averaged over (for exact means over batches)."""
        return _scalar(cache.red.count)

    def metric(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[float, float]:
        """``(sum of the metric over positions, number of positions)``; classification losses only."""
        raise ConfigError(f"loss {self.name!r} has no metric")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- shared helpers -----------------------------------------------------------
    def _check_pred(self, y_pred: Any) -> None:
        if len(y_pred.shape) not in (2, 3):
            raise InputError(
                f"{self.name}: predictions must be (B, C) or (B, T, C), got shape {_shape(y_pred)}"
            )

    def _reduction(self, y_pred: Any, mask: Any) -> _Reduction:
        """The weights and the count of the positions ``y_pred.shape[:-1]``."""
        positions = _shape(y_pred)[:-1]
        if mask is None:
            count = 1
            for d in positions:  # a product that also works for symbolic dims
                count = count * d
            return _Reduction(None, count, count)
        if _shape(mask) != positions:
            raise InputError(
                f"{self.name}: the mask must have the shape of the prediction's positions {positions} "
                f"(predictions {_shape(y_pred)}), got a mask of shape {_shape(mask)}"
            )
        w = mask.astype(y_pred.dtype)  # (B,) or (B, T)
        count = np.sum(w)
        return _Reduction(w, count, np.maximum(count, 1.0))

    @staticmethod
    def _mean(per_position: Any, red: _Reduction) -> Any:
        """Mean of the per-position losses over the (unmasked) positions."""
        if red.w is None:
            return np.sum(per_position) / red.denom
        return np.sum(per_position * red.w) / red.denom

    @staticmethod
    def _scale(grad: Any, red: _Reduction, per_position: float = 1.0) -> Any:
        """Turn the elementwise gradient (..., C) of the per-position losses, each of which
        averages ``per_position`` entries, into the gradient of the mean over positions."""
        if red.w is None:
            grad *= 1.0 / (red.denom * per_position)
        else:
            grad *= (red.w / (red.denom * per_position))[..., None]  # (..., C)
        return grad

    def _align(self, y_true: Any, y_pred: Any) -> Any:
        """Targets with the prediction's shape: ``(B,)`` labels fit a ``(B, 1)`` output (and
        ``(B, T)`` a ``(B, T, 1)`` one), as Keras squeezes or expands; anything else that
        differs is an InputError naming both shapes."""
        tshape, pshape = _shape(y_true), _shape(y_pred)
        if tshape == pshape:
            return y_true
        if tshape == pshape[:-1] and pshape[-1] == 1:
            return y_true[..., None]
        if tshape[:-1] == pshape and tshape[-1] == 1:
            return y_true[..., 0]
        hint = ""
        if tshape == pshape[:-1]:
            hint = ("; hint: these look like integer class ids for "
                    f"{pshape[-1]} classes: use sparse_categorical_crossentropy")
        raise InputError(
            f"{self.name}: targets of shape {tshape} do not fit predictions of shape {pshape}; "
            f"expected targets of shape {pshape}{' or ' + str(pshape[:-1]) if pshape[-1] == 1 else ''}{hint}"
        )

    def _class_ids(self, y_true: Any, pshape: tuple) -> Any:
        """Integer class ids of the positions' shape (a trailing axis of 1 dropped), checked on
        real arrays: whole numbers of an integer or float dtype, each in ``[0, C)``."""
        tshape, C = _shape(y_true), pshape[-1]
        ids = y_true if tshape == pshape[:-1] else y_true[..., 0]
        if _is_real(ids):
            if ids.dtype.kind == "f" and not np.array_equal(ids, np.round(ids)):
                raise InputError(
                    f"{self.name}: class ids must be whole numbers, got fractional values "
                    f"(labels shape {tshape}, predictions shape {pshape})"
                )
            if ids.dtype.kind not in "iuf":
                raise InputError(
                    f"{self.name}: class ids must be integers, got dtype {ids.dtype} "
                    f"(labels shape {tshape}, predictions shape {pshape})"
                )
            if ids.size and (ids.min() < 0 or ids.max() >= C):
                raise InputError(
                    f"{self.name}: class ids must be in [0, {C}) for predictions of shape {pshape}, got "
                    f"ids in [{ids.min():g}, {ids.max():g}] (labels shape {tshape})"
                )
            ids = ids.astype(np.intp, copy=False)
        return ids

    def _check_probabilities(self, y_pred: Any, head: str) -> None:
        if _is_real(y_pred) and y_pred.size and (y_pred.min() < 0.0 or y_pred.max() > 1.0):
            raise InputError(
                f"{self.name} (from_logits=False) expects probabilities in [0, 1], got predictions in "
                f"[{y_pred.min():.4g}, {y_pred.max():.4g}] (shape {_shape(y_pred)}); hint: pass "
                f"from_logits=True for a linear head, or end the model with {head}"
            )


class MSECache(NamedTuple):
    diff: Any  # (..., C) y_pred - y_true
    red: _Reduction


class MeanSquaredError(Loss):
    """``mean((y_pred - y_true)**2)`` over the last axis, then over (unmasked) positions."""

    name = "mean_squared_error"

    def forward(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[Any, MSECache]:
        self._check_pred(y_pred)
        y_true = self._align(y_true, y_pred)
        red = self._reduction(y_pred, mask)
        diff = y_pred - _as(y_true, y_pred.dtype)  # (..., C)
        per_position = np.mean(diff * diff, axis=-1)  # (B,) or (B, T)
        return _scalar(self._mean(per_position, red)), MSECache(diff, red)

    def backward(self, cache: MSECache) -> Any:
        C = cache.diff.shape[-1]
        grad = cache.diff * 2.0  # (..., C)
        return self._scale(grad, cache.red, C)


class BCECache(NamedTuple):
    y_pred: Any  # (..., C) probabilities or logits
    y_true: Any  # (..., C)
    red: _Reduction


class BinaryCrossentropy(Loss):
    """Binary cross-entropy per output unit, averaged over the last axis and the positions.

    Args:
        from_logits: ``y_pred`` are logits (a linear head) rather than probabilities (a
            sigmoid head). Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` as in Keras (the
            gradient is zero where the clip is active); logits use the overflow-free
            ``max(z, 0) - z*y + log(1 + exp(-|z|))``.
    """

    name = "binary_crossentropy"
    metric_name = "accuracy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)

    def __repr__(self) -> str:
        return f"BinaryCrossentropy(from_logits={self.from_logits})"

    def _targets(self, y_pred: Any, y_true: Any) -> Any:
        self._check_pred(y_pred)
        y_true = _as(self._align(y_true, y_pred), y_pred.dtype)  # (..., C)
        if _is_real(y_true) and y_true.size and (y_true.min() < 0.0 or y_true.max() > 1.0):
            raise InputError(
                f"{self.name}: targets must be in [0, 1], got values in [{y_true.min():.4g}, {y_true.max():.4g}] "
                f"(targets shape {_shape(y_true)})"
            )
        if not self.from_logits:
            self._check_probabilities(y_pred, "Dense(..., activation='sigmoid')")
        return y_true

    def forward(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[Any, BCECache]:
        y_true = self._targets(y_pred, y_true)
        red = self._reduction(y_pred, mask)
        if self.from_logits:
            z = y_pred
            elem = np.maximum(z, 0.0) - z * y_true + np.log1p(np.exp(-np.abs(z)))  # (..., C)
        else:
            p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)  # (..., C)
            elem = -(y_true * np.log(p) + (1.0 - y_true) * np.log(1.0 - p))  # (..., C)
        per_position = np.mean(elem, axis=-1)  # (B,) or (B, T)
        return _scalar(self._mean(per_position, red)), BCECache(y_pred, y_true, red)

    def backward(self, cache: BCECache) -> Any:
        y_pred, y_true, red = cache
        C = y_pred.shape[-1]
        if self.from_logits:
            grad = sigmoid(y_pred) - y_true  # (..., C)
        else:
            p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)  # (..., C)
            inside = (y_pred >= EPSILON) & (y_pred <= 1.0 - EPSILON)  # (..., C) where the clip passes gradients
            grad = (p - y_true) / (p * (1.0 - p)) * inside  # (..., C)
        return self._scale(grad, red, C)

    def metric(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[float, float]:
        """Binary accuracy: the fraction of units whose thresholded prediction equals the target."""
        y_true = self._align(y_true, y_pred)
        threshold = 0.0 if self.from_logits else 0.5
        hits = np.mean(((y_pred > threshold) == (y_true > 0.5)).astype(np.float64), axis=-1)  # (B,) or (B, T)
        red = self._reduction(y_pred, mask)
        total = np.sum(hits) if red.w is None else np.sum(hits * red.w)
        return _scalar(total), _scalar(red.count)


class SCECache(NamedTuple):
    y_pred: Any  # (..., C) logits or probabilities
    aux: Any  # softmax(logits) (..., C), or the normalised probabilities q
    ids: Any  # (...) int class ids, or None for dense targets
    target: Any  # (..., C) dense targets, or None for ids
    red: _Reduction


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy over the classes of the last axis, for (B, C) or every step of (B, T, C).

    Labels are read by shape: integer class ids of the positions' shape ((B,) or (B, T),
    a trailing axis of 1 allowed) or one-hot (or soft) targets of the prediction's shape.

    Args:
        from_logits: ``y_pred`` are logits (default). With ``False`` they are probabilities
            (a ``Dense(C, activation="softmax")`` head): as Keras, each row is renormalised to
            sum to 1 and clipped to ``[1e-7, 1 - 1e-7]`` before the log.
        name: the name used in messages (the Keras name it was created under).
    """

    metric_name = "accuracy"

    def __init__(self, from_logits: bool = True, name: str = "softmax_crossentropy") -> None:
        self.from_logits = bool(from_logits)
        self.name = name

    def __repr__(self) -> str:
        return f"SoftmaxCrossEntropy(from_logits={self.from_logits}, name={self.name!r})"

    def _labels(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[Any, Any]:
        """(ids, None) or (None, dense targets)."""
        self._check_pred(y_pred)
        pshape, tshape = _shape(y_pred), _shape(y_true)
        C = pshape[-1]
        if tshape == pshape:
            if _is_real(y_true):
                self._check_rows(y_true, pshape, mask)
            return None, _as(y_true, y_pred.dtype)
        if tshape == pshape[:-1] or (tshape == pshape[:-1] + (1,)):
            return self._class_ids(y_true, pshape), None
        hint = ""
        integer = np.dtype(getattr(y_true, "dtype", np.float64)).kind in "iu"
        if len(tshape) == len(pshape) == 2 and tshape[0] == pshape[0] and integer:
            hint = (f"; these look like class ids over {tshape[1]} timesteps, but the predictions have no time "
                    "axis: should the last recurrent layer have return_sequences=True?")
        elif len(tshape) == len(pshape) and tshape[:-1] == pshape[:-1]:
            hint = f"; the labels look one-hot with {tshape[-1]} classes, but the model outputs {C} classes"
        elif len(pshape) == 3 and len(tshape) == 1 and tshape[0] == pshape[0]:
            hint = (f"; the model outputs {pshape[1]} timesteps but the labels have one per sample: should the "
                    "last recurrent layer have return_sequences=False?")
        raise InputError(
            f"{self.name}: labels of shape {tshape} do not fit predictions of shape {pshape}; expected class "
            f"ids of shape {pshape[:-1]} or one-hot targets of shape {pshape}{hint}"
        )

    def _check_rows(self, target: np.ndarray, pshape: tuple, mask: Any) -> None:
        """Targets of the prediction's shape are read as one distribution over the classes per
        position: one-hot or soft rows, each in [0, 1] and summing to 1. Class ids or counts that
        happen to have that shape would train on a wrong gradient without a word, so every
        (unmasked) row is checked, in one vectorised pass."""
        if not target.size:
            return
        t = target.astype(np.float64, copy=False)
        sums = np.sum(t, axis=-1)  # (B,) or (B, T)
        bad = (np.abs(sums - 1.0) > 1e-3) | (np.min(t, axis=-1) < 0.0) | (np.max(t, axis=-1) > 1.0)
        if mask is not None and _is_real(mask) and _shape(mask) == _shape(bad):
            bad &= mask.astype(bool)  # padded positions may hold anything
        if not bad.any():
            return
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        row = np.array2string(np.asarray(target[first]), precision=4, threshold=8, separator=", ")
        kind = "integers" if target.dtype.kind in "iub" else "values"
        raise InputError(
            f"{self.name}: targets of shape {_shape(target)} have the predictions' shape, so each row is read as "
            f"one-hot or probabilities over {pshape[-1]} classes, but {int(bad.sum())} of {bad.size} rows are not "
            f"(in [0, 1], summing to 1): the first, at index {first}, holds {kind} {row} summing to "
            f"{sums[first]:.4g}; hint: class ids go as shape {pshape[:-1]} with sparse_categorical_crossentropy "
            "(or SoftmaxCrossEntropy()), one-hot rows as np.eye(C)[ids]"
        )

    def forward(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[Any, SCECache]:
        ids, target = self._labels(y_pred, y_true, mask)
        red = self._reduction(y_pred, mask)
        if self.from_logits:
            shifted = y_pred - np.max(y_pred, axis=-1, keepdims=True)  # (..., C)
            e = np.exp(shifted)  # (..., C)
            s = np.sum(e, axis=-1, keepdims=True)  # (..., 1)
            logp = shifted - np.log(s)  # (..., C) log-softmax
            aux = e / s  # (..., C) softmax
        else:
            self._check_probabilities(y_pred, "Dense(C, activation='softmax')")
            aux = y_pred / np.sum(y_pred, axis=-1, keepdims=True)  # (..., C) rows renormalised, as Keras
            logp = np.log(np.clip(aux, EPSILON, 1.0 - EPSILON))  # (..., C)
        if ids is not None:
            per_position = -np.take_along_axis(logp, ids[..., None], axis=-1)[..., 0]  # (B,) or (B, T)
        else:
            per_position = -np.sum(target * logp, axis=-1)  # (B,) or (B, T)
        return _scalar(self._mean(per_position, red)), SCECache(y_pred, aux, ids, target, red)

    def backward(self, cache: SCECache) -> Any:
        y_pred, aux, ids, target, red = cache
        if self.from_logits:
            grad = aux.copy()  # (..., C) softmax - one-hot
            if ids is not None:
                hit = np.take_along_axis(grad, ids[..., None], axis=-1)  # (..., 1)
                np.put_along_axis(grad, ids[..., None], hit - 1.0, axis=-1)
            else:
                grad -= target
            return self._scale(grad, red)
        # L = -sum(t * log(clip(q))), q = p / sum(p): first dL/dq, then through the normalisation
        q = aux
        inside = (q >= EPSILON) & (q <= 1.0 - EPSILON)  # (..., C)
        qc = np.clip(q, EPSILON, 1.0 - EPSILON)  # (..., C)
        if ids is not None:
            gq = np.zeros_like(q)  # (..., C)
            at = np.take_along_axis(qc, ids[..., None], axis=-1)  # (..., 1)
            ok = np.take_along_axis(inside, ids[..., None], axis=-1)  # (..., 1)
            np.put_along_axis(gq, ids[..., None], -(ok / at), axis=-1)
        else:
            gq = -target / qc * inside  # (..., C)
        s = np.sum(y_pred, axis=-1, keepdims=True)  # (..., 1)
        grad = (gq - np.sum(gq * q, axis=-1, keepdims=True)) / s  # (..., C)
        return self._scale(grad, red)

    def metric(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[float, float]:
        """Accuracy: argmax of the prediction equals the class id (or the argmax of one-hot targets)."""
        ids, target = self._labels(y_pred, y_true, mask)
        truth = ids if ids is not None else np.argmax(target, axis=-1)  # (B,) or (B, T)
        hits = (np.argmax(y_pred, axis=-1) == truth).astype(np.float64)  # (B,) or (B, T)
        red = self._reduction(y_pred, mask)
        total = np.sum(hits) if red.w is None else np.sum(hits * red.w)
        return _scalar(total), _scalar(red.count)


class NLLCache(NamedTuple):
    y_pred: Any  # (..., C) log-probabilities
    ids: Any  # (...) int class ids
    red: _Reduction


class NLLLoss(Loss):
    """Negative log-likelihood, as PyTorch's ``nn.NLLLoss``: ``-y_pred[id]`` per position, for a
    head that already outputs log-probabilities (``Activation("log_softmax")``, torch's
    ``LogSoftmax``). The predictions are taken as they are (no softmax, no clip), so together
    with a log_softmax head this is the sparse cross-entropy of the logits.

    Labels are integer class ids of the positions' shape: ``(B,)`` for ``(B, C)``, ``(B, T)``
    for ``(B, T, C)`` (a trailing axis of 1 allowed). A mask averages over the unmasked
    positions only, as torch's ``ignore_index`` does.
    """

    name = "nll"
    metric_name = "accuracy"

    def _labels(self, y_pred: Any, y_true: Any) -> Any:
        self._check_pred(y_pred)
        pshape, tshape = _shape(y_pred), _shape(y_true)
        if tshape == pshape[:-1] or tshape == pshape[:-1] + (1,):
            return self._class_ids(y_true, pshape)
        hint = ""
        if tshape == pshape:
            hint = ("; hint: these look like one-hot rows: pass the class ids (np.argmax(y, axis=-1)), "
                    "or use categorical_crossentropy")
        elif len(pshape) == 3 and len(tshape) == 1 and tshape[0] == pshape[0]:
            hint = (f"; the model outputs {pshape[1]} timesteps but the labels have one per sample: should the "
                    "last recurrent layer have return_sequences=False?")
        elif len(pshape) == 2 and len(tshape) == 2 and tshape[0] == pshape[0]:
            hint = (f"; these look like class ids over {tshape[1]} timesteps, but the predictions have no time "
                    "axis: should the last recurrent layer have return_sequences=True?")
        raise InputError(
            f"{self.name}: labels of shape {tshape} do not fit predictions of shape {pshape}; expected integer "
            f"class ids of shape {pshape[:-1]}{hint}"
        )

    def forward(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[Any, NLLCache]:
        ids = self._labels(y_pred, y_true)
        red = self._reduction(y_pred, mask)
        per_position = -np.take_along_axis(y_pred, ids[..., None], axis=-1)[..., 0]  # (B,) or (B, T)
        return _scalar(self._mean(per_position, red)), NLLCache(y_pred, ids, red)

    def backward(self, cache: NLLCache) -> Any:
        y_pred, ids, red = cache
        grad = np.zeros_like(y_pred)  # (..., C) -1 at each position's class id
        np.put_along_axis(grad, ids[..., None], -1.0, axis=-1)
        return self._scale(grad, red)

    def metric(self, y_pred: Any, y_true: Any, mask: Any = None) -> tuple[float, float]:
        """Accuracy: argmax of the prediction (the most likely class) equals the class id."""
        ids = self._labels(y_pred, y_true)
        hits = (np.argmax(y_pred, axis=-1) == ids).astype(np.float64)  # (B,) or (B, T)
        red = self._reduction(y_pred, mask)
        total = np.sum(hits) if red.w is None else np.sum(hits * red.w)
        return _scalar(total), _scalar(red.count)


_LOSSES = {
    "mse": lambda: MeanSquaredError(),
    "mean_squared_error": lambda: MeanSquaredError(),
    "binary_crossentropy": lambda: BinaryCrossentropy(from_logits=False),
    "categorical_crossentropy": lambda: SoftmaxCrossEntropy(from_logits=False, name="categorical_crossentropy"),
    "sparse_categorical_crossentropy": lambda: SoftmaxCrossEntropy(
        from_logits=False, name="sparse_categorical_crossentropy"),
    "nll": lambda: NLLLoss(),
    "negative_log_likelihood": lambda: NLLLoss(),
}


def get(loss: Any) -> Loss:
    """A loss instance from a name (Keras's) or an instance (returned as is).

    The cross-entropy names mean probabilities, as in Keras; for logits pass an instance,
    ``SoftmaxCrossEntropy()`` or ``BinaryCrossentropy(from_logits=True)``. ``"nll"`` is PyTorch's
    NLLLoss, for a log_softmax head."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.lower() in _LOSSES:
        return _LOSSES[loss.lower()]()
    raise ConfigError(
        f"received an invalid value for `loss`, expected one of {sorted(_LOSSES)} or a Loss instance "
        f"(MeanSquaredError, BinaryCrossentropy, SoftmaxCrossEntropy, NLLLoss), got {loss!r}"
    )
