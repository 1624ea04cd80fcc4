"""Training progress: a rich progress bar on a terminal, one line per epoch otherwise.

The only module of shapeviz.train that talks to the user, and the only one that imports
rich (lazily, when a bar is shown); the numeric core never does.

``verbose``: ``None`` (auto) shows a bar on a terminal and nothing otherwise; ``0`` is
silent; ``1`` is a bar on a terminal and one line per epoch otherwise; ``2`` is one line
per epoch always (as Keras).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from shapeviz.errors import ConfigError


def format_logs(logs: dict[str, float]) -> str:
    """``"loss: 0.0123 - accuracy: 0.9500 - val_loss: 0.0234"``."""
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def epoch_line(epoch: int, epochs: int, logs: dict[str, float]) -> str:
    """Keras's summary line of an epoch (``epoch`` is 0-based, printed 1-based)."""
    text = format_logs(logs)
    return f"Epoch {epoch + 1}/{epochs}" + (f" - {text}" if text else "")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """What fit shows while it trains. Use as a context manager.

    Args:
        epochs: the total number of epochs (for "Epoch 3/10").
        steps: batches per epoch.
        verbose: None, 0, 1 or 2 (see the module docstring).
        stream: where to write; ``sys.stdout`` at the time of the call by default.
        console: a ``rich.console.Console`` to draw the bar on (tests pass one); implies a bar.
    """

    def __init__(self, epochs: int, steps: int, verbose: int | None = None, stream: TextIO | None = None,
                 console: Any = None) -> None:
        self.epochs = epochs
        self.steps = steps
        if verbose not in (None, 0, 1, 2) or isinstance(verbose, bool):
            raise ConfigError(f"received an invalid value for `verbose`, expected None, 0, 1 or 2, got {verbose!r}")
        self.stream = stream if stream is not None else sys.stdout
        tty = console is not None or _isatty(self.stream)
        if verbose == 0:
            self.style = "silent"
        elif verbose is None:
            self.style = "bar" if tty else "silent"
        elif verbose == 1:
            self.style = "bar" if tty else "lines"
        else:
            self.style = "lines"
        self._console = console
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> "Progress":
        if self.style == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, \
                TimeElapsedColumn
            console = self._console or Console(file=self.stream)
            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[logs]}"), TimeElapsedColumn(), console=console)
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def epoch_start(self, epoch: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task(f"Epoch {epoch + 1}/{self.epochs}", total=self.steps, logs="")

    def batch_end(self, step: int, logs: dict[str, float]) -> None:
        """``step`` is the number of batches done in this epoch; ``logs`` the running means."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=step, logs=format_logs(logs))

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.steps, logs=format_logs(logs))
        elif self.style == "lines":
            print(epoch_line(epoch, self.epochs, logs), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A one-off message (e.g. "resumed from epoch 3"); shown unless silent."""
        if self._bar is not None:
            self._bar.console.print(text)
        elif self.style == "lines":
            print(text, file=self.stream, flush=True)
