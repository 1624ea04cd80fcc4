import subprocess
import sys

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
