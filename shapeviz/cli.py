"""The `shapeviz` command line (a click group; the commands arrive with later work)."""

from __future__ import annotations

import click

from shapeviz import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shapeviz")
def main() -> None:
    """Show and verify the (batch, seq_len, features) shapes of recurrent networks.

    \b
    Example:
      shapeviz --version
    """


if __name__ == "__main__":  # pragma: no cover
    main()
