"""fit, evaluate and predict: the loops around one training step, with checkpoints and Ctrl-C.

One step (:func:`train_step`) is forward(training=True, rng) -> loss -> backward ->
optimizer.step -> zero_grad; the fit's ``np.random.Generator`` (seeded by ``seed``)
shuffles the batches and draws the dropout masks. Metrics are means over every
(unmasked) position of the epoch, not means of batch means.
"""

from __future__ import annotations

import copy
import math
import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from shapeviz.core.layer import check_positive_int
from shapeviz.errors import CheckpointError, ConfigError, InputError, ShapeError
from shapeviz.train.checkpoint import load_weights, save_weights
from shapeviz.train.data import Data, batches, prepare
from shapeviz.train.diagnose import explained
from shapeviz.train.progress import Progress
from shapeviz.train.step import StepResult, loss_mask, run_step, tally, train_step
from shapeviz.train.tbptt import check_tbptt, tbptt_step

__all__ = ["History", "fit", "evaluate", "predict", "train_step"]


class History:
    """What ``fit`` returns, as Keras's History.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``, one entry per epoch.
        epoch: the 0-based index of every recorded epoch (a resumed fit includes the earlier ones).
        interrupted: Ctrl-C stopped training; the model holds the weights of the last completed epoch.
        params: ``{"epochs", "steps", "batch_size"}``.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.interrupted = False
        self.params: dict[str, Any] = {}

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        flag = ", interrupted=True" if self.interrupted else ""
        return f"History(epochs={len(self.epoch)}, last={last}{flag})"


# -- helpers -----------------------------------------------------------------------------
def _require_compiled(model: Any, what: str, optimizer: bool = True) -> None:
    if model.loss is None or (optimizer and model.optimizer is None):
        raise ConfigError(
            f"{model.summary_name()} is not compiled: call model.compile(loss, optimizer) before {what}()"
        )


@contextmanager
def _on_user_arrays(model: Any, x: Any, y: Any = None, mask: Any = None) -> Iterator[None]:
    """A shape error met on a batch is reported as a symbolic trace on the user's whole arrays
    reports it: their shapes (not a batch slice's), each axis named by its role, with its hint."""
    # a failing first call may have built the first layer on the wrong shape: explain on the model as it was
    before = model if model.built else copy.deepcopy(model)
    try:
        yield
    except (InputError, ShapeError) as error:
        raise explained(error, before, x, y, mask) from None


def _prepare(model: Any, x: Any, y: Any = None, mask: Any = None, prefix: str = "") -> Data:
    """:func:`prepare`; sample counts that disagree because x is time-major say so."""
    try:
        return prepare(model, x, y, mask, prefix=prefix)
    except InputError as error:
        if "samples" not in str(error):
            raise
        raise explained(error, model, x, y, mask, counts=True) from None


def _ensure_built(model: Any, data: Data) -> None:
    """Build the layers with one sample, so weights can be snapshotted and loaded before step 1."""
    if not model.built:
        xb, _, mb = data.batch(slice(0, 1))
        model.forward(xb, mask=mb, training=False)


def _snapshot(model: Any) -> tuple[list[np.ndarray], dict]:
    return [layer.params[key].copy() for _, layer, key in model.parameters()], model.optimizer.state_dict()


def _restore(model: Any, snapshot: tuple[list[np.ndarray], dict]) -> None:
    weights, opt_state = snapshot
    for (_, layer, key), w in zip(model.parameters(), weights):
        layer.params[key][...] = w
    model.optimizer.load_state_dict(opt_state)
    model.zero_grad()


class _FunctionCallback:
    def __init__(self, fn: Any) -> None:
        self.on_epoch_end = fn


def _callbacks(callbacks: Any) -> list[Any]:
    """Objects with any of ``on_epoch_begin(epoch)``, ``on_batch_end(step, logs)``,
    ``on_epoch_end(epoch, logs)``; a plain function is an ``on_epoch_end``."""
    if callbacks is None:
        return []
    items = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    hooks = ("on_epoch_begin", "on_batch_end", "on_epoch_end")
    out = []
    for cb in items:
        if any(hasattr(cb, h) for h in hooks):
            out.append(cb)
        elif callable(cb):
            out.append(_FunctionCallback(cb))
        else:
            raise ConfigError(f"fit: a callback must be callable or have one of {list(hooks)}, got {cb!r}")
    return out


def _call(callbacks: list[Any], hook: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def _add(sums: dict[str, list[float]], step: dict[str, tuple[float, float]]) -> None:
    """Add one batch's ``{name: (sum, count)}`` into the epoch's running sums."""
    for key, (total, count) in step.items():
        acc = sums.setdefault(key, [0.0, 0.0])
        acc[0] += total
        acc[1] += count


def _logs(sums: dict[str, list[float]], loss: Any = None) -> dict[str, float]:
    """The epoch's means: ``loss`` first, then the metric, then per output (``dec_loss``, ...);
    with a loss per output the total is the weighted sum of their means (exact over batches)."""
    logs = {key: (total / count if count else 0.0) for key, (total, count) in sums.items()}
    if hasattr(loss, "epoch_loss") and len(logs) > 1:
        logs["loss"] = loss.epoch_loss(logs)
    return logs


def _validation(model: Any, validation_data: Any) -> Data | None:
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = (f"a {type(validation_data).__name__} of {len(validation_data)} items"
               if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
        raise ConfigError(f"fit: validation_data must be (x, y) or (x, y, mask), got {got}")
    return _prepare(model, *validation_data, prefix="validation ")


def _evaluate(model: Any, data: Data, batch_size: int) -> dict[str, float]:
    sums: dict[str, list[float]] = {"loss": [0.0, 0.0]}
    for idx in batches(data.n, batch_size, None):
        xb, yb, mb = data.batch(idx)
        y_pred, cache = model.forward(xb, mask=mb, training=False)
        masks = loss_mask(model, cache)
        loss, lcache = model.loss.forward(y_pred, yb, mask=masks)
        _add(sums, tally(model, y_pred, yb, masks, loss, lcache, True))
    return _logs(sums, model.loss)


def _save(model: Any, path: Any, completed: int, history: History) -> None:
    meta: dict[str, Any] = {"epoch": completed}
    for key, values in history.history.items():
        meta[f"history/{key}"] = np.asarray(values, dtype=np.float64)
    save_weights(model, path, optimizer=model.optimizer, metadata=meta)


def _fit_meta_problems(meta: dict[str, np.ndarray]) -> list[str]:
    """What is wrong with the training record of a checkpoint fit wrote: the completed epoch
    count (an integer >= 1) and one history value per completed epoch for every metric."""
    epoch = meta.get("epoch")
    if epoch is None:
        return ["it has no epoch record (__meta__/epoch): it holds weights but not how far training got, so it "
                "cannot be resumed; train without resume into a new checkpoint, or load its weights with "
                "load_weights"]
    if epoch.shape != () or epoch.dtype.kind not in "iu":
        return [f"its epoch record (__meta__/epoch) must be one integer, got {epoch.dtype} of shape {epoch.shape}"]
    done = int(epoch)
    if done < 1:
        return [f"its epoch record (__meta__/epoch) must count the completed epochs, at least 1, got {done}"]
    problems = []
    history = {k: v for k, v in meta.items() if k.startswith("history/")}
    if "history/loss" not in history:
        problems.append("it has no loss history (__meta__/history/loss) for its epochs")
    for key, values in history.items():
        if values.ndim != 1 or values.dtype.kind not in "fiu" or len(values) != done:
            problems.append(f"its history {key[len('history/'):]!r} (__meta__/{key}) must hold one number per "
                            f"completed epoch, {done}, got {values.dtype} of shape {values.shape}")
    return problems


def _resume(model: Any, path: Any, history: History) -> int:
    """Load a checkpoint written by fit (all or nothing); returns the number of epochs it had completed."""
    meta = load_weights(model, path, optimizer=model.optimizer, validate=_fit_meta_problems)
    done = int(meta["epoch"])
    for key, values in meta.items():
        if key.startswith("history/"):
            history.history[key[len("history/"):]] = [float(v) for v in values]
    history.epoch = list(range(done))
    return done


# -- the public functions ------------------------------------------------------------------
def fit(model: Any, x: Any, y: Any, *, batch_size: int = 32, epochs: int = 1, validation_data: Any = None,
        shuffle: bool = True, seed: int | None = None, mask: Any = None, tbptt: int | None = None,
        verbose: int | None = None, checkpoint: str | os.PathLike | None = None, resume: bool = False,
        overwrite: bool = False, callbacks: Sequence[Any] | None = None) -> History:
    """Train a compiled model.

    Args:
        model: a model compiled with ``model.compile(loss, optimizer)``.
        x: (N, ...) inputs, or a tuple of arrays (EncoderDecoder: (source, decoder_inputs)); for a
            graph model with several inputs a list in input order or a dict by input name.
        y: (N, ...) targets (class ids may stay integer); for a graph model with several outputs a
            list in output order or a dict by output name. The logs then hold the weighted total
            ``loss`` and each output's ``<output>_loss`` (and metric), as Keras's do.
        batch_size: samples per step (the last batch may be smaller).
        epochs: the total number of epochs; with ``resume`` the count includes the epochs the
            checkpoint already has (as Keras's ``initial_epoch``).
        validation_data: ``(x, y)`` or ``(x, y, mask)``, evaluated after every epoch.
        shuffle: reshuffle the samples every epoch.
        seed: seeds the generator for shuffling and dropout masks.
        mask: (N, T) input mask, batched along with x (per input, as a list or dict, for a graph
            model with several inputs).
        tbptt: truncated BPTT with windows of this many steps (unidirectional recurrent layers
            whose time axis reaches the loss; see :mod:`shapeviz.train.tbptt`).
        verbose: None (auto: a bar on a terminal), 0, 1 or 2 (see :mod:`shapeviz.train.progress`).
        checkpoint: an ``.npz`` path written (atomically) after every epoch: weights, optimizer
            state, the epoch count and the history so far.
        resume: load ``checkpoint`` first if it exists and continue from its epoch count; a
            checkpoint already at ``epochs`` or past it leaves nothing to train (the model gets its
            weights, the file is not touched).
        overwrite: without ``resume``, replace an existing ``checkpoint`` (else that is refused).
        callbacks: objects with ``on_epoch_begin(epoch)``, ``on_batch_end(step, logs)``,
            ``on_epoch_end(epoch, logs)`` (any subset), or functions ``f(epoch, logs)``.

    Returns:
        A :class:`History`. Ctrl-C does not propagate: the model (and the checkpoint) keep the
        last completed epoch and ``history.interrupted`` is True.

    Raises:
        InputError: data that is empty, has NaN/inf, or whose sample counts disagree.
        NonFiniteError: a NaN/inf loss or gradient, naming the epoch, step, layer and weight;
            the update of that step is not applied.
        CheckpointError: ``resume`` with a checkpoint that does not fit the model or whose training
            record (epoch count, history, optimizer slots) is missing or damaged; an existing
            ``checkpoint`` without ``resume`` or ``overwrite``. Nothing is written then.
    """
    _require_compiled(model, "fit")
    batch_size = check_positive_int(batch_size, "batch_size", "fit")
    epochs = check_positive_int(epochs, "epochs", "fit")
    k = check_tbptt(model, tbptt) if tbptt is not None else None
    if resume and checkpoint is None:
        raise ConfigError("fit: resume=True needs checkpoint=path to resume from")
    if checkpoint is not None and not os.path.isdir(os.path.dirname(os.path.abspath(checkpoint))):
        raise ConfigError(f"fit: the folder of checkpoint={os.fspath(checkpoint)!r} does not exist")
    if checkpoint is not None and not resume and not overwrite and os.path.lexists(checkpoint):
        raise CheckpointError(
            f"fit: checkpoint {os.fspath(checkpoint)!r} already exists, and training from scratch would replace it: "
            "pass resume=True (--resume) to continue from it, or overwrite=True to start over and replace it "
            "(on the command line: delete it or give another --checkpoint)"
        )
    data = _prepare(model, x, y, mask)
    val = _validation(model, validation_data)
    rng = np.random.default_rng(seed)
    with _on_user_arrays(model, x, y, mask):
        _ensure_built(model, data)
    model.zero_grad()
    history = History()
    start = _resume(model, checkpoint, history) if resume and os.path.exists(checkpoint) else 0
    metric = bool(model.loss.metric_name) or hasattr(model.loss, "logs")  # a loss per output: their metrics
    steps = math.ceil(data.n / batch_size)
    history.params = {"epochs": epochs, "steps": steps, "batch_size": batch_size}
    cbs = _callbacks(callbacks)
    snapshot = _snapshot(model)
    completed = saved = start
    with Progress(epochs, steps, verbose) as progress:
        if start >= epochs:
            progress.note(f"{os.fspath(checkpoint)!r} is already trained to epoch {start} and epochs={epochs}: "
                          "nothing left to do")
        elif start:
            progress.note(f"resumed from {os.fspath(checkpoint)!r} after epoch {start}/{epochs}")
        try:
            for epoch in range(start, epochs):
                _call(cbs, "on_epoch_begin", epoch)
                progress.epoch_start(epoch)
                order = rng.permutation(data.n) if shuffle else None
                sums: dict[str, list[float]] = {"loss": [0.0, 0.0]}
                for step, idx in enumerate(batches(data.n, batch_size, order)):
                    xb, yb, mb = data.batch(idx)
                    where = f"at epoch {epoch + 1}/{epochs}, step {step + 1}/{steps}"
                    res: StepResult
                    with _on_user_arrays(model, x, y, mask):
                        if k is not None:
                            res = tbptt_step(model, xb, yb, mb, rng, k, where=where, metric=bool(metric))
                        else:
                            res = run_step(model, xb, yb, mb, rng, where=where, metric=bool(metric))
                    _add(sums, res.logs)
                    logs = _logs(sums, model.loss)
                    progress.batch_end(step + 1, logs)
                    _call(cbs, "on_batch_end", step, logs)
                logs = _logs(sums, model.loss)
                if val is not None:
                    with _on_user_arrays(model, *validation_data):
                        logs.update({f"val_{key}": v for key, v in _evaluate(model, val, batch_size).items()})
                _call(cbs, "on_epoch_end", epoch, logs)
                # the epoch is complete once its weights are the snapshot Ctrl-C restores
                snapshot = _snapshot(model)
                completed = epoch + 1
                history.append(epoch, logs)
                if checkpoint is not None:
                    _save(model, checkpoint, completed, history)
                    saved = completed
                progress.epoch_end(epoch, logs)
        except KeyboardInterrupt:
            _restore(model, snapshot)
            history.interrupted = True
            if checkpoint is not None and saved < completed:
                _save(model, checkpoint, completed, history)
            progress.note(f"interrupted: keeping the weights of epoch {completed}/{epochs}")
    return history


def evaluate(model: Any, x: Any, y: Any, *, batch_size: int = 32, mask: Any = None) -> dict[str, float]:
    """The loss (and accuracy for classification losses) over all of ``x``, in inference mode.

    Returns:
        ``{"loss": ..., "accuracy": ...}``: means over every (unmasked) position, so the
        result does not depend on ``batch_size``.
    """
    _require_compiled(model, "evaluate", optimizer=False)
    batch_size = check_positive_int(batch_size, "batch_size", "evaluate")
    data = _prepare(model, x, y, mask)
    with _on_user_arrays(model, x, y, mask):
        return _evaluate(model, data, batch_size)


def predict(model: Any, x: Any, *, batch_size: int = 32, mask: Any = None, steps: int | None = None) -> Any:
    """The model's outputs for ``x`` in inference mode, batch by batch.

    Args:
        x: (N, ...) inputs or a tuple (EncoderDecoder teacher forcing).
        steps: for an EncoderDecoder given only the source (N, T_in, F): decode this many
            steps from its own outputs (``generate``).

    Returns:
        (N, ...) outputs ((T, N, ...) for a time-major sequence output); for a graph model with
        several outputs a list of them in output order.
    """
    batch_size = check_positive_int(batch_size, "batch_size", "predict")
    generating = not isinstance(x, (tuple, list, dict)) and hasattr(model, "generate")
    if generating and steps is None:
        raise ConfigError(
            f"predict: {model.summary_name()} given only a source decodes from its own outputs: pass steps=T_out, "
            "or pass (source, decoder_inputs) for teacher forcing"
        )
    if steps is not None and not generating:
        raise ConfigError(
            f"predict: steps= applies to an EncoderDecoder given only the source; {model.summary_name()} "
            f"{'was given a tuple' if isinstance(x, (tuple, list)) else 'does not generate'}"
        )
    if steps is not None:
        steps = check_positive_int(steps, "steps", "predict")
    data = _prepare(model, x, None, mask)
    outputs = []
    with _on_user_arrays(model, x, None, mask):
        for idx in batches(data.n, batch_size, None):
            xb, _, mb = data.batch(idx)
            if generating:
                out, _ = model.generate(xb, steps, mask=mb)
            else:
                out, _ = model.forward(xb, mask=mb, training=False)
            outputs.append(out)
    axes = data.y_axes or (0,)  # a time-major sequence output (T, N, ...) joins along axis 1
    if isinstance(outputs[0], list):  # a graph with several outputs: one array per output
        return [np.concatenate(parts, axis=axes[i] if i < len(axes) and parts[0].ndim > axes[i] else 0)
                for i, parts in enumerate(zip(*outputs))]  # each (N, ...) or (T, N, ...)
    axis = axes[0] if outputs[0].ndim > axes[0] else 0
    return np.concatenate(outputs, axis=axis)  # (N, ...) or (T, N, ...)
