"""OutputLosses: a loss per output of a several-output model, weighted and summed (Keras's ``loss={...}``).

The model's loss is ``sum_i w_i * L_i`` where ``L_i`` is output ``i``'s own mean loss (over its
unmasked positions) and ``w_i`` its weight (``loss_weights``, 1 by default). Its gradient with
respect to output ``i`` is ``w_i * dL_i/dy_i``; an output without a loss gets no gradient (None).
Logs name every output's loss and metric after the output, as Keras does: ``dec_loss``,
``dec_accuracy``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from shapeviz.core import losses
from shapeviz.errors import ConfigError, InputError


class OutputLossesCache(NamedTuple):
    caches: list  # per output its loss's cache, or None for an output without a loss
    values: list  # per output its mean loss (a float), or None
    batch: int  # the number of samples (the total's weight in a mean over batches)


def _per_output(value: Any, names: list[str], what: str, owner: str) -> list:
    """``value`` spread over the outputs: a dict by output name, a list/tuple in output order."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ConfigError(f"{owner}: {what} keys must be output names {names}, got unknown {unknown}")
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ConfigError(f"{owner}: {what} must have one entry per output {names}, got {len(value)}")
        return list(value)
    return [value] * len(names)


class OutputLosses:
    """Per output of a model a loss (or None) and a weight.

    Args:
        loss: one loss for every output, a dict by output name (a missing output gets no loss), or
            a list in output order.
        names: the model's output names, e.g. ``["dec", "enc:1"]``.
        loss_weights: None (1 each), a dict by output name, or a list in output order.
    """

    name = "output_losses"
    metric_name = None  # metrics are per output: see :meth:`logs`

    def __init__(self, loss: Any, names: list[str], loss_weights: Any = None) -> None:
        owner = "compile"
        self.names = list(names)
        given = _per_output(loss, self.names, "loss", owner)
        self.losses = [None if item is None else losses.get(item) for item in given]
        if all(item is None for item in self.losses):
            raise ConfigError(f"{owner}: no output {self.names} has a loss")
        weights = [1.0] * len(self.names) if loss_weights is None else \
            _per_output(loss_weights, self.names, "loss_weights", owner)
        if isinstance(loss_weights, dict):
            weights = [1.0 if w is None else w for w in weights]
        for n, w in zip(self.names, weights):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
                raise ConfigError(f"{owner}: loss_weights[{n!r}] must be a number >= 0, got {w!r}")
        self.weights = [float(w) for w in weights]

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}: {lo!r} x {w:g}" for n, lo, w in zip(self.names, self.losses, self.weights))
        return f"OutputLosses({parts})"

    def targets(self, y_true: Any) -> list:
        """The targets per output: a dict by output name or a list in output order (None where no loss)."""
        if isinstance(y_true, dict):
            unknown = sorted(set(y_true) - set(self.names))
            missing = [n for n, lo in zip(self.names, self.losses) if lo is not None and n not in y_true]
            if unknown or missing:
                raise InputError(f"the targets' keys must be the output names {self.names}"
                                 + (f"; unknown: {unknown}" if unknown else "")
                                 + (f"; missing: {missing}" if missing else ""))
            return [y_true.get(n) for n in self.names]
        if not isinstance(y_true, (list, tuple)) or len(y_true) != len(self.names):
            got = f"{len(y_true)} arrays" if isinstance(y_true, (list, tuple)) else f"one {type(y_true).__name__}"
            raise InputError(f"the model has {len(self.names)} outputs {self.names}: give the targets as a list "
                             f"in that order or a dict by output name, got {got}")
        return list(y_true)

    def forward(self, y_pred: list, y_true: Any, mask: Any = None) -> tuple[float, OutputLossesCache]:
        """Args: y_pred: per output its prediction; y_true: per output its targets (list or dict);
        mask: None or per output its positions' mask. Returns the weighted sum and the cache."""
        targets = self.targets(y_true)
        masks = [None] * len(self.names) if mask is None else list(mask)
        caches: list = []
        values: list = []
        total = 0.0
        for lo, w, p, t, m in zip(self.losses, self.weights, y_pred, targets, masks):
            if lo is None:
                caches.append(None)
                values.append(None)
                continue
            value, cache = lo.forward(p, t, mask=m)
            caches.append(cache)
            values.append(value)
            total = total + w * value
        return total, OutputLossesCache(caches, values, int(y_pred[0].shape[0]))

    def backward(self, cache: OutputLossesCache) -> list:
        """Per output ``w_i * dL_i/dy_i``, None for an output without a loss."""
        grads = []
        for lo, w, c in zip(self.losses, self.weights, cache.caches):
            if lo is None:
                grads.append(None)
                continue
            g = lo.backward(c)
            grads.append(g if w == 1.0 else g * w)
        return grads

    def count(self, cache: OutputLossesCache) -> float:
        """The samples: the weighted sum is averaged over batches by their sizes."""
        return float(cache.batch)

    def logs(self, y_pred: list, y_true: Any, mask: Any, cache: OutputLossesCache,
             metric: bool = True) -> dict[str, tuple[float, float]]:
        """``{"loss": (sum, count), "dec_loss": ..., "dec_accuracy": ...}``: sums and counts whose
        ratios over an epoch are the means Keras reports per output."""
        targets = self.targets(y_true)
        masks = [None] * len(self.names) if mask is None else list(mask)
        out = {"loss": (sum(w * v for w, v in zip(self.weights, cache.values) if v is not None) * cache.batch,
                        float(cache.batch))}
        for n, lo, c, v in zip(self.names, self.losses, cache.caches, cache.values):
            if lo is not None:
                count = float(lo.count(c))
                out[f"{log_name(n)}_loss"] = (v * count, count)
        if metric:
            for n, lo, p, t, m in zip(self.names, self.losses, y_pred, targets, masks):
                if lo is not None and lo.metric_name:
                    hits, count = lo.metric(p, t, m)
                    out[f"{log_name(n)}_{lo.metric_name}"] = (float(hits), float(count))
        return out


    def epoch_loss(self, means: dict[str, float]) -> float:
        """The weighted sum of each output's mean over the epoch (``means["dec_loss"]``, ...): exact
        whatever the batches, where a mean of the batches' weighted sums is not (masked positions)."""
        return sum(w * means[f"{log_name(n)}_loss"] for n, lo, w in zip(self.names, self.losses, self.weights)
                   if lo is not None)


def log_name(output: str) -> str:
    """An output's name as a log key: ``"enc:1"`` becomes ``"enc_1"``."""
    return output.replace(":", "_").replace("@", "_")
