"""The front ends and the one place that chooses between them (``shapeviz.load``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import shapeviz
from shapeviz import LSTM, Dense, Sequential
from shapeviz.checks import assert_sane
from shapeviz.frontends import FRONT_ENDS, FrontEnd, Loaded, ModelLoadError, load, register
from shapeviz.frontends.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[1]
ADDITION = ROOT / "examples" / "specs" / "addition.toml"
MODEL_PY = '''
from shapeviz import Dense, LSTM, Sequential

def build():
    return Sequential([LSTM(3, name="lstm"), Dense(1, name="head")], name="from_code", seed=0)
'''
SUPPORTED = ("a Keras model (model.keras, model.h5, model.to_json() as .json), a spec file (model.toml, model.json), "
             "path/to/file.py:build or package.module:build")


def test_shapeviz_load_is_the_chooser():
    assert shapeviz.load is load


@pytest.mark.parametrize("source", [str(ADDITION), ADDITION])
def test_a_spec_file_gives_the_model_and_its_declarations(source):
    loaded = load(source)
    spec = load_spec(ADDITION)
    assert isinstance(loaded, Loaded) and loaded.source == str(ADDITION)
    assert type(loaded.model) is type(spec.model) and loaded.model.name == spec.model.name == "addition"
    assert (loaded.inputs, loaded.dims, loaded.expect, loaded.labels, loaded.mask, loaded.loss, loaded.roles) == (
        spec.inputs, spec.dims, spec.expect, spec.labels, spec.mask, spec.loss, spec.roles)
    assert loaded.spec is not None and loaded.spec.source == str(ADDITION)


def test_a_json_spec_and_an_upper_case_suffix_are_specs(tmp_path):
    json_spec = load(ROOT / "examples" / "specs" / "imdb_lstm.json")
    assert json_spec.inputs == "(B, T)"
    upper = tmp_path / "ADDITION.TOML"
    upper.write_text(ADDITION.read_text())
    assert load(str(upper)).inputs == "(B, T, 2)"


def test_a_spec_error_comes_from_the_spec_front_end(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('input = "(B, T, 2)"\n[model]\nkind = "sequential"\n[[layers]]\nkind = "lstn"\nunits = 2\n')
    with pytest.raises(SpecError, match=r"bad.toml:5: layers\[0\].kind: unknown layer kind 'lstn'"):
        load(bad)


def test_python_code_by_file_and_by_module(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(MODEL_PY)
    by_file = load(f"{tmp_path / 'my_models.py'}:build")
    assert by_file.model.name == "from_code" and by_file.inputs is None and by_file.dims == {}
    monkeypatch.chdir(tmp_path)  # a module is found in the current folder, as `python -m` finds it
    by_module = load("my_models:build")
    assert by_module.model.name == "from_code" and by_module.source == "my_models:build"


def test_a_live_model_is_its_own_source():
    model = Sequential([LSTM(2), Dense(1)], name="live")
    loaded = load(model)
    assert loaded.model is model and loaded.source == "Sequential 'live'"
    assert loaded.inputs is None and loaded.spec is None


@pytest.mark.parametrize("source", ["model.txt", "model", "model.py:", ":build"])
def test_unknown_text_lists_what_is_supported(source):
    with pytest.raises(ModelLoadError) as info:
        load(source)
    assert str(info.value) == f"cannot tell what model {source!r} is: expected {SUPPORTED}"


def test_a_py_file_without_name_says_what_to_add():
    with pytest.raises(ModelLoadError, match=r"expected path/to/file.py:NAME.*\(e.g. model.py:build\), got no NAME"):
        load("model.py")


def test_an_unknown_object_lists_every_front_end():
    with pytest.raises(ModelLoadError) as info:
        load(42)
    assert str(info.value) == ("cannot tell what model int 42 is: expected a shapeviz model (Sequential, OneToMany "
                               f"or EncoderDecoder), {SUPPORTED}, a torch.nn.Module (from build(); "
                               'pip install "shapeviz[torch]")')


def test_a_new_front_end_is_one_entry(tmp_path, monkeypatch):
    (tmp_path / "fake_front_end.py").write_text(textwrap.dedent('''
        from shapeviz import Dense, Sequential
        from shapeviz.frontends.base import Loaded

        def load(source):
            return Loaded(Sequential([Dense(2)], name="fake"), source, inputs="(B, 3)", dims={"B": 4})
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("shapeviz.frontends.FRONT_ENDS", list(FRONT_ENDS))
    import shapeviz.frontends as frontends

    entry = FrontEnd("fake", "a fake file (model.fake)", lambda s: isinstance(s, str) and s.endswith(".fake"),
                     "fake_front_end")
    register(entry)
    assert [f.name for f in frontends.FRONT_ENDS] == ["live", "keras", "spec", "python", "torch", "fake"]
    loaded = load("model.fake")
    assert loaded.model.name == "fake" and loaded.inputs == "(B, 3)" and loaded.source == "model.fake"
    with pytest.raises(ModelLoadError, match=r"expected a Keras model .*, a spec file .*, a fake file \(model.fake\)$"):
        load("model.unknown")
    with pytest.raises(ValueError, match="a front end named 'fake' is already registered"):
        register(entry)
    register(FrontEnd("first", "anything", lambda s: True, "fake_front_end"), before="live")
    assert frontends.FRONT_ENDS[0].name == "first"
    with pytest.raises(ValueError, match="no front end named 'nope' to register before; there are: first, live"):
        register(FrontEnd("other", "x", lambda s: False, "fake_front_end"), before="nope")


def test_the_front_ends_are_imported_when_chosen():
    """Choosing costs no import: loading a live model imports neither the spec nor the Python front end."""
    code = ("import sys\nfrom shapeviz import Dense, Sequential\nfrom shapeviz.frontends import load\n"
            "load(Sequential([Dense(1)]))\n"
            "print(sorted(m for m in sys.modules if m.startswith('shapeviz.frontends.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['shapeviz.frontends.base', 'shapeviz.frontends.live']"


def test_assert_sane_reads_a_spec_with_its_declarations():
    results = assert_sane(str(ADDITION), only=["shapes", "gradients"])
    assert [r.name for r in results] == ["shapes", "gradients"]
    assert all(r.status == "pass" for r in results)


def test_assert_sane_reads_python_code(tmp_path):
    (tmp_path / "my_models.py").write_text(MODEL_PY)
    import numpy as np

    x = np.random.default_rng(0).normal(size=(2, 4, 5))
    results = assert_sane(f"{tmp_path / 'my_models.py'}:build", x, only=["shapes"])
    assert results[0].status == "pass"
