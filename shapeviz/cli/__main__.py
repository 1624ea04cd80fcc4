"""``python -m shapeviz.cli``: the `shapeviz` command."""

from shapeviz.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
