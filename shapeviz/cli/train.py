"""`shapeviz train`: train a model on the arrays of an .npz, with checkpoints and Ctrl-C kept."""

from __future__ import annotations

import math

import click

from shapeviz.cli.common import (INTERRUPTED, DataMismatch, add_model_help, common_options, guarded, load_npz, load_source,
                                 model_inputs, option_error, output_path, settings_of)
from shapeviz.cli.save_torch import check_save_torch, save_torch_option
from shapeviz.cli.save_torch import save_torch as write_torch
from shapeviz.cli.limits import budget, data_bytes, data_declaration, max_memory_option
from shapeviz.errors import ShapeError, ShapeVizError


def _positive_finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise click.BadParameter(f"expected a positive number, got {value!r}")
    return value


@click.command()
@click.argument("model", metavar="MODEL")
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="An .npz with arrays x and y (and optionally mask, x_val, y_val; x_dec for an encoder-decoder); "
              "for a graph model one array per input named after it, and y (or one per output, named after it).")


@click.option("--epochs", default=1, show_default=True, type=click.IntRange(1, None),
              help="The total number of epochs, counting those a resumed checkpoint already has.")


@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, None))
@click.option("--optimizer", default=None, help="sgd, adagrad, rmsprop or adam (default: the spec's, else adam).")
@click.option("--lr", type=float, callback=_positive_finite, help="The learning rate.")
@click.option("--clip", type=float, callback=_positive_finite, help="Clip gradients to this global norm.")
@click.option("--loss", default=None, help="mse, binary_crossentropy, categorical_crossentropy, "
              "sparse_categorical_crossentropy or nll (PyTorch's NLLLoss, for a log_softmax head) "
              "(default: the spec's or the model's, else mse).")


@click.option("--checkpoint", type=click.Path(dir_okay=False),
              help="Save the weights and optimizer state here after every epoch (.npz).")


@click.option("--save", type=click.Path(dir_okay=False),
              help="Write the trained model back to Keras as this .keras file (for a MODEL that is a .keras file).")
@click.option("--resume", is_flag=True, help="Continue from --checkpoint if it exists.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, None),
              help="Seeds the shuffling and dropout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or epoch lines, only the final line.")
@save_torch_option
@max_memory_option
@common_options
@click.pass_context
@guarded
def train(ctx: click.Context, model: str, data: str, epochs: int, batch_size: int, optimizer: str | None,
          lr: float | None, clip: float | None, loss: str | None, checkpoint: str | None, resume: bool, seed: int,
          quiet: bool, save_torch: str | None = None, max_memory: int | None = None,
          save: str | None = None) -> None:
    """Train MODEL on the arrays in an .npz, with a progress bar; Ctrl-C keeps the last epoch.

    Exit 0 trained, 1 a NaN/inf loss or gradient stopped training (the message names the epoch,
    step, layer and weight) or the data does not fit the model, 2 unusable input, 130 Ctrl-C.

    \b
    Examples:
      shapeviz train examples/specs/addition.toml --data addition.npz --epochs 5
      shapeviz train model.py:build --data data.npz --optimizer adam --lr 0.01 --checkpoint run.npz --resume
      shapeviz train model.keras --data data.npz --epochs 3 --save trained.keras

    """
    from shapeviz.cli.graph_arrays import graph_arrays, is_graph
    from shapeviz.core import losses, optimizers
    from shapeviz.errors import InputError
    from shapeviz.train.progress import format_logs

    if resume and not checkpoint:
        raise ShapeVizError("--resume: expected --checkpoint PATH to resume from, got no --checkpoint")
    if checkpoint:
        output_path("--checkpoint", checkpoint, ("npz",))
    check_save_torch(save_torch)
    if save:
        output_path("--save", save, ("keras",))
    loss_obj = optimizer_obj = None
    try:
        if loss is not None:
            loss_obj = losses.get(loss)
    except ShapeVizError as error:
        raise option_error("--loss", error) from None
    try:
        if optimizer is not None:
            options = {k: v for k, v in (("learning_rate", lr), ("clipnorm", clip)) if v is not None}
            optimizer_obj = optimizers.get(optimizer, **options)
    except ShapeVizError as error:
        raise option_error("--optimizer", error) from None
    arrays = load_npz(data, max_memory, required=())
    loaded = load_source(model)
    m = loaded.model
    if save and getattr(getattr(m, "_keras_source", None), "fmt", None) != "keras":
        raise ShapeVizError(f"--save: cannot write {save!r}: it writes the trained weights into the .keras file "
                            f"MODEL came from, expected a .keras MODEL, got {loaded.source}")
    if not is_graph(m):
        load_npz(data, max_memory)  # x and y, with its message naming them
    # before anything is built: weights, gradients, the update's scratch and the optimizer's slots,
    # the activations BPTT keeps for a batch, and the data
    slots = len(type(optimizer_obj or m.optimizer or optimizers.get("adam")).slots)
    budget(m, data_declaration(m, arrays, samples=batch_size), max_memory, "train", param_copies=3 + slots,
           extra=data_bytes(arrays), extra_what="the data")
    if optimizer_obj is None:
        # the spec's or the model's own optimizer keeps its settings; --lr and --clip change only theirs
        optimizer_obj = m.optimizer if m.optimizer is not None else optimizers.get("adam")
        if lr is not None:
            optimizer_obj.learning_rate = lr
        if clip is not None:
            optimizer_obj.clipnorm = clip
    # a spec compiles its model with the whole loss (from_logits too); its name alone would lose that
    m.compile(loss_obj or m.loss or loaded.loss or "mse", optimizer_obj)
    if is_graph(m):  # arrays named after the inputs and outputs
        x, y, mask, validation = graph_arrays(m, arrays, data)
    else:
        x, y, mask = model_inputs(m, arrays, data), arrays["y"], arrays.get("mask")
        validation = None
        if "x_val" in arrays and "y_val" in arrays:
            validation = (arrays["x_val"], arrays["y_val"])
    begun: list[int] = []

    class _First:
        @staticmethod
        def on_epoch_begin(epoch: int) -> None:
            begun.append(epoch)

    # a bar redraws itself with ANSI cursor codes even without colours: --no-color gets a line per epoch
    verbose = 0 if quiet else 2 if settings_of(ctx).no_color else 1
    try:
        history = m.fit(x, y, batch_size=batch_size, epochs=epochs, mask=mask,
                        validation_data=validation, seed=seed, verbose=verbose, checkpoint=checkpoint,
                        resume=resume, callbacks=[_First()])
    except (InputError, ShapeError) as error:
        raise DataMismatch(f"cannot train on the arrays in {data!r}:\n{error}") from None
    done = len(history.epoch)
    start = begun[0] if begun else done
    logs = {k: v[-1] for k, v in history.history.items() if v}
    resumed = (f"resumed from {checkpoint} after epoch {start}, " if start else
               f"no checkpoint at {checkpoint} yet, started at epoch 1; " if resume else "")
    kept = (f"; weights in {checkpoint}" if checkpoint else "" if save else
            "; the weights are not saved (--checkpoint PATH keeps them)")
    if history.interrupted:
        if done == start:
            click.echo(f"interrupted in epoch {start + 1}/{epochs} before it completed: nothing trained"
                       + (f", {checkpoint} unchanged" if checkpoint and start else ""))
        else:
            click.echo(f"interrupted in epoch {done + 1}/{epochs}: {resumed}kept the weights of epoch "
                       f"{done}/{epochs} ({format_logs(logs)}){kept}")
        ctx.exit(INTERRUPTED)
    if not begun:
        click.echo(f"nothing to train: {checkpoint} already holds {done} epochs and --epochs is {epochs} (raise it "
                   "to train more)")
        return
    trained = f"epoch {done}" if done - start == 1 else f"epochs {start + 1}-{done}"
    if save:
        m.save_keras(save)
        kept += f"; the Keras model in {save}"
    click.echo(f"{resumed}trained {trained} of {epochs}: {format_logs(logs)}{kept}{write_torch(m, save_torch)}")


add_model_help(train)
