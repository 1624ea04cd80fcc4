"""Time the command line's start: `shapeviz --help`, against the interpreter alone and `import numpy`.

    python benchmarks/cli_startup.py [--repeats 5]

Each row is the median wall time of fresh processes, in milliseconds: the `shapeviz` console
script next to this Python (else `python -m shapeviz.cli`), `python -c pass`, and
`python -c "import numpy"`. `shapeviz --help` imports click and `shapeviz.errors` only; the
tracer, the renderers (rich, graphviz), the trainer and numpy load when a command runs
(`tests/test_cli.py` checks it). Run it from outside the repository, or with PYTHONPATH set,
so that the `shapeviz` you mean is the one imported.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from timing import median_ms  # benchmarks/timing.py: run as scripts, this folder is on the path


def _command() -> list[str]:
    script = Path(sys.executable).with_name("shapeviz")
    if script.exists():
        return [str(script)]
    found = shutil.which("shapeviz")
    return [found] if found else [sys.executable, "-m", "shapeviz.cli"]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rows = {
        "shapeviz --help": _command() + ["--help"],
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
    }
    out: dict[str, float] = {}
    for name, cmd in rows.items():
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)  # warm the file cache
        out[name] = median_ms(lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True), args.repeats)
    print(f"start-up, medians of {args.repeats} fresh processes")
    for name, ms in out.items():
        print(f"  {name:<28}{ms:8.0f} ms")
    return out


if __name__ == "__main__":
    main()
