import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shapeviz import __version__
from shapeviz.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"shapeviz, version {__version__}"


def test_help_has_example():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "shapeviz report" in result.output


def test_console_script_runs_as_module():
    out = subprocess.run([sys.executable, "-m", "shapeviz.cli", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout


# -- import cost: `shapeviz --help` must not pay for what only a command needs -------------------
HEAVY = ("numpy", "rich", "graphviz", "shapeviz.render", "shapeviz.tracing", "shapeviz.train", "shapeviz.checks",
         "shapeviz.core", "shapeviz.frontends")


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_imports_nothing_heavy():
    assert _heavy(_modules_after("import shapeviz.cli")) == []


def test_help_imports_nothing_heavy():
    modules = _modules_after("from shapeviz.cli import main\nmain(['--help'], standalone_mode=False)")
    assert _heavy(modules) == []
    assert "click" in modules  # the probe ran the command line


def test_a_command_imports_what_it_needs():
    """The other side of lazy imports: running a command does load the tracer and the renderers."""
    spec = Path(__file__).resolve().parents[1] / "examples" / "specs" / "addition.toml"
    code = f"from shapeviz.cli import main\nmain(['report', {str(spec)!r}, '-q'], standalone_mode=False)"
    modules = _modules_after(code)
    assert {"numpy", "rich", "shapeviz.tracing.tracer", "shapeviz.render.tables", "shapeviz.frontends.spec"} <= modules


def test_the_package_exports_lazily():
    import shapeviz

    assert _heavy(_modules_after("import shapeviz")) == []
    for name in shapeviz.__all__:  # every public name resolves, as `from shapeviz import *` needs
        assert getattr(shapeviz, name) is not None, name
    assert set(shapeviz.__all__) <= set(dir(shapeviz))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        shapeviz.nope  # noqa: B018
