"""The `shapeviz` command line: shape reports, diagrams, checks and training.

``main`` is the click group (the console script ``shapeviz``); each command lives in its own
module (:mod:`.report`, :mod:`.graph`, :mod:`.check` with :mod:`.deep`, :mod:`.modes`,
:mod:`.train`) and what they share in :mod:`.common`. Importing this package imports click and
nothing heavy: numpy, the tracer, the renderers (rich, graphviz) and the trainer are imported
by the commands that run.
"""

from __future__ import annotations

import click

from shapeviz import __version__
from shapeviz.cli import check, graph, modes, report, train
from shapeviz.cli.common import Group, common_options

__all__ = ["main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="shapeviz")
@common_options
def main() -> None:
    """Show and verify the (batch, seq_len, features) shapes of recurrent networks.

    \b
    Examples:
      shapeviz report examples/specs/imdb_lstm.toml
      shapeviz graph examples/specs/addition.toml -o addition.svg
      shapeviz check model.py:build --input "(B, T, 2)" --expect-output "(B, 1)"
      shapeviz modes -o modes/
    """


main.add_command(report.report)
main.add_command(graph.graph)
main.add_command(check.check)
main.add_command(modes.modes)
main.add_command(train.train)
