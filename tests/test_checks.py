"""The deep pre-training checks: each one catches a model or dataset with exactly its defect,
and healthy models of every mode pass them all."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shapeviz import (LSTM, GRU, Bidirectional, Dense, Embedding, EncoderDecoder, OneToMany, Sequential,
                      SimpleRNN)
from shapeviz.core.masking import Masking
from shapeviz.checks import CHECKS, assert_sane, run, sparkline
from shapeviz.core.layer import Layer


def by_name(results: list) -> dict:
    return {r.name: r for r in results}


# -- test-only layers, each with one defect ------------------------------------------------------
class BatchMixer(Layer):
    """The classic bug: (B, T, F) -> (T, B, F) by reshape instead of transpose, then back by transpose."""

    kind = "batch_mixer"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        self.ensure_built(x, rng)
        B, T, F = x.shape
        return x.reshape(T, B, F).transpose(1, 0, 2), (B, T, F)  # (B, T, F), rows mixed

    def backward(self, dy: Any, cache: Any) -> Any:
        B, T, F = cache
        return dy.transpose(1, 0, 2).reshape(B, T, F)  # (B, T, F)


class FutureReader(Layer):
    """y_t = x_t + x_{t+1} (the last step repeats): reads one step ahead."""

    kind = "future_reader"

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        self.ensure_built(x, rng)
        ahead = np.concatenate([x[:, 1:], x[:, -1:]], axis=1)  # (B, T, F)
        return x + ahead, None

    def backward(self, dy: Any, cache: Any) -> Any:
        dx = dy.copy()  # (B, T, F)
        dx[:, 1:] += dy[:, :-1]
        dx[:, -1] += dy[:, -1]
        return dx


class WrongGrad(Layer):
    """y = 2x whose backward forgets the factor 2... and owns a scale parameter to check."""

    kind = "wrong_grad"

    def make_params(self, input_shape: tuple, rng: np.random.Generator) -> dict:
        return {"scale": np.ones((int(input_shape[-1]),), dtype=self.dtype)}

    def forward(self, x: Any, *, mask: Any = None, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        self.ensure_built(x, rng)
        return x * self.params["scale"] * 2.0, x

    def backward(self, dy: Any, cache: Any) -> Any:
        x = cache
        self.grads["scale"] += np.sum(dy * x, axis=tuple(range(dy.ndim - 1)))  # wrong: misses the 2
        return dy * self.params["scale"] * 2.0


# -- healthy models of every mode -------------------------------------------------------------------
def healthy(mode: str) -> Any:
    if mode == "one-to-one":
        return Sequential([Dense(6, activation="tanh"), Dense(3, activation="softmax")], seed=0).build((None, 4))
    if mode == "many-to-one":
        return Sequential([Embedding(30, 6), LSTM(6), Dense(1, activation="sigmoid")], seed=0).build((None, None))
    if mode == "synced many-to-many":
        return Sequential([GRU(12, return_sequences=True), Dense(3, activation="softmax")], seed=0).build((None, None, 2))
    if mode == "one-to-many":
        return OneToMany([SimpleRNN(6)], Dense(2), steps=3, seed=0).build((None, 3))
    if mode == "many-to-many":
        return EncoderDecoder([LSTM(5)], [LSTM(5)], Dense(2), seed=0)
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["one-to-one", "many-to-one", "synced many-to-many", "one-to-many"])
def test_healthy_models_of_every_mode_pass(mode: str) -> None:
    results = run(healthy(mode), steps=200)
    assert [r.name for r in results] == list(CHECKS[:-1])  # no data given: no data row
    bad = [(r.name, r.evidence) for r in results if r.status != "pass"]
    assert not bad, bad


def test_healthy_encoder_decoder_passes() -> None:
    model = healthy("many-to-many")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 4, 3)).astype(np.float32), rng.standard_normal((2, 3, 2)).astype(np.float32))
    results = run(model, x, steps=150)
    bad = [(r.name, r.evidence) for r in results if r.status == "fail"]
    assert not bad, bad


def test_shapes_fail_names_the_mismatch_and_skips_the_rest() -> None:
    model = Sequential([LSTM(4), Dense(1)], seed=0).build((None, None, 3))
    x = np.zeros((2, 5, 7), dtype=np.float32)  # 7 features for a layer built on 3
    results = by_name(run(model, x))
    assert results["shapes"].status == "fail"
    assert "7" in results["shapes"].evidence and "lstm" in results["shapes"].evidence
    assert results["gradients"].status == "warn" and "skipped" in results["gradients"].evidence


def test_gradients_catch_a_wrong_backward() -> None:
    model = Sequential([Dense(3), WrongGrad(), Dense(1)], seed=0).build((None, 2))
    r = by_name(run(model, only=["gradients"]))["gradients"]
    assert r.status == "fail"
    assert r.data["worst_parameter"].endswith("/scale") and r.data["worst_rel_error"] > 0.1


def test_batch_independence_catches_a_reshape_that_mixes_rows() -> None:
    model = Sequential([Dense(3), BatchMixer(), SimpleRNN(4), Dense(1)], seed=0).build((None, None, 2))
    r = by_name(run(model, only=["batch independence"]))["batch independence"]
    assert r.status == "fail"
    assert r.data["pairs"] and "y[" in r.evidence and "reshape" in r.fix
    ok = Sequential([Dense(3), SimpleRNN(4), Dense(1)], seed=0).build((None, None, 2))
    assert by_name(run(ok, only=["batch independence"]))["batch independence"].status == "pass"


def test_causality_catches_a_layer_reading_the_future() -> None:
    model = Sequential([Dense(3), FutureReader(), SimpleRNN(4, return_sequences=True), Dense(2)],
                       seed=0).build((None, None, 2))
    r = by_name(run(model, only=["causality"]))["causality"]
    assert r.status == "fail" and r.data["causal"] is False
    assert "after step" in r.evidence


def test_causality_reports_bidirectional_as_non_causal_by_design() -> None:
    model = Sequential([Bidirectional(SimpleRNN(3, return_sequences=True)), Dense(2)], seed=0).build((None, None, 2))
    r = by_name(run(model, only=["causality"]))["causality"]
    assert r.status == "pass" and r.data["causal"] is False
    assert "by design" in r.evidence and r.data["by_design"] == [model.layers[0].name]


def test_initial_loss_names_a_head_bias_that_wrecks_it() -> None:
    model = Sequential([LSTM(4), Dense(1, activation="sigmoid", name="head")], seed=0).build((None, None, 3))
    model.layers[1].params["bias"][...] = 10.0
    r = by_name(run(model, only=["initial loss"]))["initial loss"]
    assert r.status == "fail"
    assert "head's bias" in r.evidence and r.data["ratio"] > 3


def test_initial_loss_softmax_expects_ln_c() -> None:
    model = healthy("synced many-to-many")
    r = by_name(run(model, only=["initial loss"]))["initial loss"]
    assert r.status == "pass" and r.data["expected"] == pytest.approx(np.log(3))


def test_overfit_fails_when_the_data_cannot_be_fit() -> None:
    model = Sequential([SimpleRNN(3), Dense(1, activation="sigmoid")], seed=0).build((None, None, 2))
    data = {"x": np.zeros((4, 5, 2), dtype=np.float32), "y": np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32)}
    r = by_name(run(model, data=data, only=["overfit one batch"], steps=60))["overfit one batch"]
    assert r.status == "fail" and "cannot fit" in r.evidence


def test_gradient_flow_catches_vanishing_gradients_in_a_long_tanh_rnn() -> None:
    model = Sequential([SimpleRNN(8), Dense(1)], seed=0).build((None, None, 2))
    rnn = model.layers[0]
    rnn.params["recurrent_kernel"] *= 0.05
    rnn.params["kernel"] *= 0.3
    x = np.random.default_rng(0).standard_normal((2, 100, 2)).astype(np.float32)
    r = by_name(run(model, x, only=["gradient flow"]))["gradient flow"]
    assert r.status == "fail" and "vanishing" in r.evidence
    assert len(r.data["norms"]) == 100 and any(c in r.evidence for c in "▁▂▃▄▅▆▇█")
    assert "dL/dh_t" in r.evidence and r.data["norms"][0] < 1e-10 * max(r.data["norms"])


def test_gradient_flow_reports_every_recurrent_layer_of_a_stack() -> None:
    import io
    import json

    from rich.console import Console

    from shapeviz.render.checks import checks_dict, checks_table

    model = Sequential([SimpleRNN(4, return_sequences=True, name="lower"), LSTM(3, name="upper"), Dense(1)],
                       seed=0).build((None, None, 2))
    x = np.random.default_rng(0).standard_normal((2, 7, 2)).astype(np.float32)
    r = by_name(run(model, x, only=["gradient flow"]))["gradient flow"]
    assert r.status == "pass" and r.data["layers"] == 2
    assert [(s["layer"], s["T"], len(s["norms"]), s["status"]) for s in r.data["series"]] == [
        ("lower", 7, 7, "pass"), ("upper", 7, 7, "pass")]
    assert r.data["layer"] == "lower" and r.data["norms"] == r.data["series"][0]["norms"]  # all pass: the first
    lines = r.evidence.splitlines()
    assert [line.split(":")[0] for line in lines] == ["lower", "upper"] and all("t=0..6" in line for line in lines)
    out = json.loads(json.dumps(checks_dict([r])))  # the --format json form
    assert [s["layer"] for s in out["checks"][0]["data"]["series"]] == ["lower", "upper"]
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(checks_table([r]))
    text = console.file.getvalue()
    assert "lower: ‖dL/dh_t‖ t=0..6" in text and "upper: ‖dL/dh_t‖ t=0..6" in text


def test_gradient_flow_names_the_one_layer_whose_gradient_vanishes() -> None:
    """The lower layer carries its gradient back (an identity recurrence), the upper one loses it:
    reading only the first layer would pass this model."""
    model = Sequential([SimpleRNN(8, return_sequences=True, name="lower"), SimpleRNN(8, name="upper"), Dense(1)],
                       seed=0).build((None, None, 2))
    lower, upper = model.layers[0], model.layers[1]
    lower.params["recurrent_kernel"][...] = np.eye(8, dtype=np.float32)
    lower.params["kernel"] *= 0.1
    upper.params["recurrent_kernel"] *= 0.05
    upper.params["kernel"] *= 0.3
    x = np.random.default_rng(0).standard_normal((2, 100, 2)).astype(np.float32)
    r = by_name(run(model, x, only=["gradient flow"]))["gradient flow"]
    assert r.status == "fail"
    assert {s["layer"]: (s["status"], s["problem"]) for s in r.data["series"]} == {
        "lower": ("pass", "none"), "upper": ("fail", "vanishing")}
    assert r.data["layer"] == "upper" and r.data["vanish_ratio"] < 1e-10 and len(r.data["norms"]) == 100
    lower_line, upper_line = r.evidence.splitlines()
    assert "vanishing" in upper_line and "vanishing" not in lower_line
    assert r.fix.startswith("early steps of upper get no gradient")
    with pytest.raises(AssertionError, match="early steps of upper"):
        assert_sane(model, x, only=["gradient flow"])


def test_gradient_flow_reports_both_directions_and_every_model_kind() -> None:
    bi = Sequential([Bidirectional(GRU(3, name="g"), name="bi"), Dense(1)], seed=0).build((None, None, 2))
    x = np.random.default_rng(0).standard_normal((2, 6, 2)).astype(np.float32)
    r = by_name(run(bi, x, only=["gradient flow"]))["gradient flow"]
    assert [(s["layer"], s["go_backwards"], s["T"]) for s in r.data["series"]] == [
        ("bi/forward_g", False, 6), ("bi/backward_g", True, 6)]
    assert "bi/backward_g (go_backwards: t reads x_{T-1-t}):" in r.evidence
    # the processing order: BPTT enters both directions at their last step (many-to-one)
    assert all(s["norms"][-1] == s["peak"] for s in r.data["series"])
    model = healthy("one-to-many")
    r = by_name(run(model, only=["gradient flow"]))["gradient flow"]
    assert [(s["layer"], s["T"]) for s in r.data["series"]] == [(model.stack[0].name, 3)]  # run a step at a time
    model = healthy("many-to-many")
    rng = np.random.default_rng(0)
    x2 = (rng.standard_normal((2, 4, 3)).astype(np.float32), rng.standard_normal((2, 3, 2)).astype(np.float32))
    r = by_name(run(model, x2, only=["gradient flow"]))["gradient flow"]
    assert [(s["layer"], s["T"]) for s in r.data["series"]] == [(model.encoder[0].name, 4), (model.decoder[0].name, 3)]


def test_sparkline_is_log_scaled() -> None:
    assert sparkline(np.array([1e-8, 1e-4, 1.0])) == "▁▅█"  # 1e-4 is half way on a log scale, rounded up
    assert sparkline(np.ones(3)) == "███"


def test_data_catches_time_major_data_given_to_a_batch_first_model() -> None:
    model = Sequential([LSTM(4), Dense(1, activation="sigmoid")], seed=0).build((None, None, 3))
    x = np.random.default_rng(0).standard_normal((10, 6, 3)).astype(np.float32)  # (T, B, F)
    y = np.ones((6, 1), dtype=np.float32)
    results = by_name(run(model, data={"x": x, "y": y}))
    assert results["data"].status == "fail"
    assert "time-major" in results["data"].evidence and "swapaxes" in results["data"].fix
    assert results["data"].status == "fail"


@pytest.mark.parametrize("defect, words", [
    ("nan", "NaN"), ("vocab", "outside the vocabulary"), ("padding", "all padding"), ("labels", "outside [0, 1]"),
])
def test_data_catches_bad_arrays(defect: str, words: str) -> None:
    model = Sequential([Embedding(20, 4), LSTM(4), Dense(1, activation="sigmoid")], seed=0).build((None, None))
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(6, 5))
    y = rng.integers(0, 2, size=(6, 1)).astype(np.float32)
    mask = np.ones((6, 5), dtype=bool)
    if defect == "nan":
        y[2, 0] = np.nan
    elif defect == "vocab":
        x[1, 3] = 25
    elif defect == "padding":
        mask[4] = False
    else:
        y[0, 0] = 3.0
    r = by_name(run(model, data={"x": x, "y": y, "mask": mask}, only=["data"]))["data"]
    assert r.status == "fail" and words in r.evidence, r.evidence


def test_healthy_data_passes() -> None:
    model = Sequential([Embedding(20, 4), LSTM(4), Dense(1, activation="sigmoid")], seed=0).build((None, None))
    rng = np.random.default_rng(0)
    data = {"x": rng.integers(0, 20, size=(6, 5)), "y": rng.integers(0, 2, size=(6, 1)).astype(np.float32)}
    results = run(model, data=data, steps=100)
    assert all(r.status == "pass" for r in results), [(r.name, r.evidence) for r in results if r.status != "pass"]
    assert results[-1].name == "data"


def test_the_checks_leave_the_model_unchanged() -> None:
    model = healthy("many-to-one")
    before = [w.copy() for w in model.get_weights()]
    run(model, steps=20)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert all(w.dtype == np.float32 for w in model.get_weights())


def test_assert_sane_lists_the_failed_checks() -> None:
    model = Sequential([Dense(3), BatchMixer(), SimpleRNN(4), Dense(1)], seed=0).build((None, None, 2))
    with pytest.raises(AssertionError, match=r"batch independence: .* leak"):
        assert_sane(model, steps=20)
    assert assert_sane(healthy("one-to-one"), steps=100)


# -- the CLI: shapeviz check MODEL --deep ----------------------------------------------------------
BROKEN = '''
from shapeviz import LSTM, Dense, Sequential


def build():
    model = Sequential([LSTM(4), Dense(1, activation="sigmoid", name="head")], seed=0).build((None, None, 3))
    model.layers[1].params["bias"][...] = 10.0  # wrecks the loss at init
    return model
'''


def _cli(*args: str) -> Any:
    from click.testing import CliRunner

    from shapeviz.cli import main

    return CliRunner().invoke(main, list(args))


def test_cli_deep_check_of_a_healthy_spec_exits_0() -> None:
    result = _cli("--no-color", "check", "examples/specs/many_to_one.toml", "--deep")
    assert result.exit_code == 0, result.output
    for name in CHECKS[:-1]:
        assert name in result.output
    assert "expectations" in result.output  # the spec's [expect]
    assert "all 8 checks passed" in result.output


def test_cli_deep_check_plots_the_gradient_flow(tmp_path: Any) -> None:
    import xml.etree.ElementTree as ET

    plot = tmp_path / "flow.svg"
    result = _cli("--no-color", "check", "examples/specs/many_to_one.toml", "--deep", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert f"wrote {plot} (the gradient flow over " in result.output
    root = ET.fromstring(plot.read_text())
    assert root.tag.endswith("svg") and "dL/dh_t" in plot.read_text()
    for args, message in [(["--plot", str(tmp_path / "f.svg")], "add --deep"),
                          (["--deep", "--plot", str(tmp_path / "f.png")], "expected the extension .svg"),
                          (["--deep", "--plot", str(tmp_path / "no" / "f.svg")], "does not exist")]:
        bad = _cli("--no-color", "check", "examples/specs/many_to_one.toml", *args)
        assert bad.exit_code == 2 and message in bad.output, bad.output
    assert not (tmp_path / "f.svg").exists() and not (tmp_path / "f.png").exists()


def test_cli_deep_check_plots_every_recurrent_layer(tmp_path: Any) -> None:
    plot = tmp_path / "flow.svg"
    result = _cli("--no-color", "check", "examples/specs/addition.toml", "--deep", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert f"wrote {plot} (the gradient flow of 2 recurrent layers over 32 steps)" in result.output
    text = plot.read_text()
    assert text.count("<polyline") == 2  # a line per direction of the Bidirectional, each in the legend
    assert "bidirectional_1/forward_simple_rnn_1" in text and "bidirectional_1/backward_simple_rnn_1" in text


def test_cli_deep_check_of_a_broken_model_exits_1_naming_the_bias(tmp_path: Any) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    result = _cli("--no-color", "check", f"{tmp_path / 'broken.py'}:build", "--deep")
    assert result.exit_code == 1, result.output
    assert "✗ fail" in result.output and "head's" in result.output and "initial loss" in result.output
    assert "1 failed" in result.output


def test_cli_deep_check_json_and_data(tmp_path: Any) -> None:
    import json

    (tmp_path / "broken.py").write_text(BROKEN)
    x = np.random.default_rng(0).standard_normal((10, 6, 3)).astype(np.float32)  # time-major (T, B, F)
    np.savez(tmp_path / "d.npz", x=x, y=np.ones((6, 1), dtype=np.float32))
    result = _cli("check", f"{tmp_path / 'broken.py'}:build", "--deep", "--data", str(tmp_path / "d.npz"),
                  "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    rows = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False and rows["data"]["status"] == "fail" and "time-major" in rows["data"]["evidence"]


def test_checks_table_puts_the_fix_in_a_column_only_when_wide() -> None:
    import io

    from rich.console import Console

    from shapeviz.checks import CheckResult
    from shapeviz.render.checks import checks_dict, checks_table

    results = [CheckResult("shapes", "pass", "3 layers traced"),
               CheckResult("initial loss", "fail", "loss 4.9, expected 0.69", "zero the head's bias")]
    for width, wide in ((80, False), (120, True)):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(checks_table(results, "deep checks of m"))
        out = console.file.getvalue()
        assert "✗ fail" in out and "1 failed, 0 warnings, 1 passed" in out
        assert ("→ fix: zero the head's bias" in out) is not wide
        assert (" fix " in out.splitlines()[1] + " ") is wide
    assert checks_dict(results, "m")["ok"] is False


def test_gradient_flow_catches_exploding_gradients() -> None:
    model = Sequential([SimpleRNN(8, activation="relu"), Dense(1)], seed=0).build((None, None, 2))
    model.layers[0].params["recurrent_kernel"] *= 3.0
    x = np.random.default_rng(0).standard_normal((2, 40, 2)).astype(np.float32)
    r = by_name(run(model, x, only=["gradient flow"]))["gradient flow"]
    assert r.status == "fail" and "exploding" in r.evidence and "clip" in r.fix
    assert r.data["per_step"] > 1.5


def test_healthy_time_major_model_passes() -> None:
    model = Sequential([SimpleRNN(5, return_sequences=True, time_major=True), Dense(2)], seed=0).build((None, None, 3))
    results = run(model, steps=300)
    assert all(r.status == "pass" for r in results), [(r.name, r.evidence) for r in results if r.status != "pass"]
    assert by_name(results)["causality"].data["applicable"] is True


@pytest.mark.parametrize("front", ["masking", "embedding", "dense"])
def test_time_major_model_with_a_layer_in_front_passes(front: str) -> None:
    # the layout is the recurrent layer's, read through a Masking/Embedding/Dense in front of it
    first = {"masking": Masking(0.0), "embedding": Embedding(12, 3, mask_zero=True), "dense": Dense(3)}[front]
    model = Sequential([first, GRU(5, time_major=True), Dense(2)], seed=0)
    model.build((None, None) if front == "embedding" else (None, None, 3))
    results = run(model, steps=300)
    assert all(r.status == "pass" for r in results), [(r.name, r.evidence) for r in results if r.status != "pass"]
    rng = np.random.default_rng(0)
    x = rng.integers(1, 12, size=(6, 4)) if front == "embedding" else rng.standard_normal((6, 4, 3)).astype(np.float32)
    r = by_name(run(model, data={"x": x, "y": np.zeros((4, 2), np.float32)},  # x (T, B, ...), y (B, 2)
                    only=["data", "batch independence"]))
    assert r["data"].status == "pass", r["data"].evidence
    assert r["batch independence"].status == "pass" and r["batch independence"].data["batch"] == 2


def test_a_symbolic_declaration_is_traced_too() -> None:
    model = Sequential([LSTM(4), Dense(3, activation="softmax")], seed=0).build((None, None, 3))
    assert by_name(run(model, "(B, T, 3)", dims={"B": 8}, only=["shapes"]))["shapes"].status == "pass"
    r = by_name(run(model, "(B, T, 4)", only=["shapes"]))["shapes"]
    assert r.status == "fail" and "built for 3 input features" in r.evidence


@pytest.mark.parametrize("labels, words", [
    (np.zeros((6, 5), dtype=np.int64), "do not fit"),  # per-step ids for a many-to-one model
    (np.array([0, 1, 2, 6, 1, 0]), "class ids outside [0, 3)"),
])
def test_data_catches_labels_of_the_wrong_shape_or_range(labels: np.ndarray, words: str) -> None:
    model = Sequential([LSTM(4), Dense(3, activation="softmax")], seed=0).build((None, None, 3))
    x = np.random.default_rng(0).standard_normal((6, 5, 3)).astype(np.float32)
    r = by_name(run(model, data={"x": x, "y": labels}, only=["data"]))["data"]
    assert r.status == "fail" and words in r.evidence, r.evidence


def test_encoder_decoder_is_checked_for_batch_leaks_and_causality_over_its_decoder_inputs() -> None:
    model = healthy("many-to-many")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 4, 3)).astype(np.float32), rng.standard_normal((3, 5, 2)).astype(np.float32))
    results = by_name(run(model, x, only=["batch independence", "causality"]))
    assert results["batch independence"].status == "pass" and results["batch independence"].data["batch"] == 3
    assert "decoder input" in results["causality"].evidence and results["causality"].data["applicable"] is True


def test_data_catches_time_major_ids_against_declared_sizes() -> None:
    # per-step labels (B, T) swap with x too, so only the declared sizes tell the layouts apart
    model = Sequential([Embedding(20, 4), GRU(4, return_sequences=True), Dense(3, activation="softmax")],
                       seed=0).build((None, None))
    x = np.random.default_rng(0).integers(0, 20, size=(7, 5))  # (T, B) ids
    y = np.zeros((7, 5), dtype=np.int64)
    r = by_name(run(model, data={"x": x, "y": y}, dims={"B": 5, "T": 7}, only=["data"]))["data"]
    assert r.status == "fail" and "declared B=5, T=7" in r.evidence


def test_gradient_check_runs_on_the_first_steps_of_a_long_sequence() -> None:
    model = healthy("synced many-to-many")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 30, 2)).astype(np.float32)
    r = by_name(run(model, x, only=["gradients"]))["gradients"]
    assert r.status == "pass" and "first 8 steps" in r.evidence
    broken = Sequential([Dense(3), WrongGrad(), SimpleRNN(3), Dense(1)], seed=0).build((None, None, 2))
    assert by_name(run(broken, x, only=["gradients"]))["gradients"].status == "fail"


def test_flow_svg_plots_the_series_on_a_log_scale() -> None:
    import xml.etree.ElementTree as ET

    from shapeviz.render.checks import flow_svg

    svg = flow_svg([1e-8, 1e-4, 1.0])
    root = ET.fromstring(svg)
    line = root.find("{http://www.w3.org/2000/svg}polyline")
    assert line is not None
    ys = [float(p.split(",")[1]) for p in line.get("points", "").split()]
    assert ys[0] > ys[1] > ys[2] and abs((ys[0] - ys[1]) - (ys[1] - ys[2])) < 1e-6  # equal steps in log10
    assert "t = 0..2" in svg


def test_flow_svg_draws_a_line_and_a_legend_entry_per_layer() -> None:
    import xml.etree.ElementTree as ET

    from shapeviz.render.checks import flow_svg

    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(flow_svg({"lower": [1e-3, 1e-2, 1e-1], "bi/backward_g": [1e-9, 1e-5, 1.0, 0.5]}))
    lines = root.findall(f"{ns}polyline")
    assert [line.findtext(f"{ns}title") for line in lines] == ["lower", "bi/backward_g"]
    assert [len(line.get("points", "").split()) for line in lines] == [3, 4]
    assert len({line.get("stroke") for line in lines}) == 2
    texts = ["".join(t.itertext()) for t in root.iter(f"{ns}text")]
    assert "lower" in texts and "bi/backward_g" in texts and any("t = 0..3" in t for t in texts)
    assert float(root.get("height")) > 160  # the legend under the plot
