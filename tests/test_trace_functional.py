"""Tracing graph models: every node recorded (a shared layer once per call), symbolic shapes equal
to a real numpy run's, and graph mistakes reported with the node, the edge and a hint."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_layers import Concat, Sum
from shapeviz import (GRU, LSTM, Bidirectional, ConfigError, Dense, Embedding, Input, InputError, Model,
                      ShapeError, SimpleRNN, trace)
from test_trace_concrete import check

B, T_IN, T_OUT = 2, 5, 4


def seq2seq(cell=LSTM, units=(6, 6), **kwargs):
    src, tgt = Input("(B, T_in, 5)", name="source"), Input("(B, T_out, 7)", name="target")
    _, *states = cell(units[0], return_state=True, name="enc")(src)
    dec = cell(units[1], return_sequences=True, name="dec")(tgt, initial_state=states)
    return Model(inputs=[src, tgt], outputs=Dense(7, name="head")(dec), seed=0, **kwargs)


def real_feed(rng, model):
    shapes = {"source": (B, T_IN, 5), "target": (B, T_OUT, 7)}
    return [rng.normal(size=shapes[n]).astype(np.float32) for n in model.input_names]


DIMS = {"B": B, "T_in": T_IN, "T_out": T_OUT}


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_seq2seq_symbolic_equals_concrete(cell):
    model = seq2seq(cell)
    sym, _ = check(model, {"inputs": {"source": "(B, T_in, 5)", "target": "(B, T_out, 7)"}, "dims": DIMS},
                   {"inputs": real_feed(np.random.default_rng(0), model)})
    assert [r.path for r in sym.layers] == ["enc", "dec", "head"]
    assert sym.mode == "many-to-many" and sym.model_kind == "functional"
    dec = sym.layers[1]
    assert set(dec.inputs) == {"x", *(f"{s}_0" for s in cell.state_names)}
    # every recurrent layer's steps, forward and backward
    assert {(s.layer, s.phase) for s in sym.steps} == {(p, ph) for p in ("enc", "dec")
                                                      for ph in ("forward", "backward")}


def test_shared_layers_fan_out_and_merges_symbolic_equals_concrete():
    a, b = Input("(B, T, 3)", name="a"), Input("(B, T, 3)", name="b")
    shared = GRU(4, return_sequences=True, name="shared")
    ya, yb = shared(a), shared(Dense(3, name="pre")(b))
    pooled = Bidirectional(LSTM(2), name="bi")(Sum(name="sum")([ya, yb]))
    model = Model(inputs=[a, b], outputs=[Concat(name="cat")([pooled, Dense(2, name="side")(pooled)]), ya], seed=0)
    rng = np.random.default_rng(1)
    sym, real = check(model, {"inputs": ["(B, T, 3)", "(B, T, 3)"], "dims": {"B": 2, "T": 5}},
                      {"inputs": [rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))]})
    paths = [r.path for r in sym.layers]
    assert paths == ["shared", "pre", "shared@1", "sum", "bi", "bi/forward_lstm_" + paths[5].rsplit("_", 1)[-1],
                     paths[6], "side", "cat"]
    assert sym.layers[3].inputs == {"x0": sym.layers[0].outputs["y"], "x1": sym.layers[2].outputs["y"]}
    assert list(sym.outputs) == ["cat", "shared"]
    steps = {s.layer for s in sym.steps}
    assert {"shared", "shared@1", paths[5], paths[6]} <= steps


def test_embedding_mask_in_a_graph_symbolic_equals_concrete():
    ids = Input("(B, T)", name="ids", dtype="int64")
    seq = LSTM(3, return_sequences=True, name="rnn")(Embedding(9, 4, mask_zero=True, name="emb")(ids))
    model = Model(inputs=ids, outputs=Dense(2, name="out")(seq), seed=0)
    x = np.random.default_rng(2).integers(1, 9, (2, 5))
    x[0, -2:] = 0
    check(model, {"inputs": "(B, T)", "dims": {"B": 2, "T": 5}}, {"inputs": x})


def test_inputs_default_to_their_declarations():
    model = seq2seq()
    tr = trace(model, inputs={"target": "(B, T_dec, 7)"})
    assert {n: str(s) for n, s in tr.inputs.items()} == {"source": "(B, T_in, 5)", "target": "(B, T_dec, 7)"}
    assert str(trace(model, None).outputs["y"]) == "(B, T_out, 7)"


# -- graph mistakes, by message ---------------------------------------------------------------------
def test_wrong_state_size_handed_over():
    src, tgt = Input("(B, T_in, 5)", name="source"), Input("(B, T_out, 7)", name="target")
    _, h, c = LSTM(16, return_state=True, name="enc")(src)
    with pytest.raises(InputError, match=r"'dec' \(lstm\): initial state 'h' must have shape \(B, H\) = \(2, 32\), "
                                         r"got \(2, 16\)\n  through: 'dec' initial_state 0 from 'enc' output 1 \(h\)$"):
        LSTM(32, name="dec")(tgt, initial_state=[h, c])


def test_state_count_handed_over():
    src, tgt = Input("(B, T_in, 5)", name="source"), Input("(B, T_out, 7)", name="target")
    _, h = GRU(8, return_state=True, name="enc")(src)
    with pytest.raises(InputError, match=r"takes 2 initial state\(s\) \['h', 'c'\], got 1\n  through: 'dec' input 0 "
                                         r"from input 'target'; 'dec' initial_state 0 from 'enc' output 1 \(h\)"):
        LSTM(8, name="dec")(tgt, initial_state=[h])


def test_a_time_dim_merged_with_another_time_dim():
    src, tgt = Input("(B, T_in, 5)", name="source"), Input("(B, T_out, 7)", name="target")
    enc = LSTM(4, return_sequences=True, name="enc")(src)
    dec = LSTM(4, return_sequences=True, name="dec")(tgt)
    model = Model(inputs=[src, tgt], outputs=Sum(name="merge")([enc, dec]))
    with pytest.raises(ShapeError, match=r"(?s)layer 'merge'.*T_in.*T_out.*through: 'merge' input 0 from 'enc' "
                                         r"output 0 \(y\); 'merge' input 1 from 'dec' output 0 \(y\)\n.*hint: a merge lines its inputs up step "
                                         r"by step, and these run over two time axes, T_in and T_out"):
        trace(model, {"source": "(B, T_in, 5)", "target": "(B, T_out, 7)"})


def test_merge_of_unequal_feature_sizes_at_construction():
    a = Input("(B, T, 5)", name="a")
    with pytest.raises(InputError, match=r"layer 'merge' \(sum\) cannot run on inputs of shapes \(\?, \?, 4\), "
                                         r"\(\?, \?, 3\).*\n  through: 'merge' input 0 from 'x4' output 0 \(y\); "
                                         r"'merge' input 1 from 'x3' output 0 \(y\)"):
        Sum(name="merge")([Dense(4, name="x4")(a), Dense(3, name="x3")(a)])


def test_declared_features_differ_from_the_built_weights():
    with pytest.raises(ShapeError, match=r"(?s)layer 'dec'.*was built for 7 input features.*"
                                         r"through: 'dec' input 0 from input 'target'\n"
                                         r".*hint: the model's weights were made for 7"):
        trace(seq2seq(), {"source": "(B, T_in, 5)", "target": "(B, T_out, 8)"})


def test_two_inputs_with_different_batch_dims():
    with pytest.raises(ShapeError, match=r"(?s)layer 'dec'.*initial state 'h' must have shape \(B, H\) = \(N, 6\), got "
                                         r"\(B, 6\)\n  through: 'dec' initial_state 0 from 'enc' output 1 \(h\)\n.*"
                                         r"hint: .*different batch dims"):
        trace(seq2seq(), {"source": "(B, T_in, 5)", "target": "(N, T_out, 7)"})


def test_ids_declared_where_vectors_go():
    with pytest.raises(ShapeError, match=r"(?s)layer 'enc'.*rank.*through: 'enc' input 0 from input 'source'"):
        trace(seq2seq(), {"source": "(B, T_in)", "target": "(B, T_out, 7)"})


def test_declarations_that_do_not_fit_the_inputs():
    model = seq2seq()
    with pytest.raises(ConfigError, match=r"has the inputs \['source', 'target'\]; the declarations name \['tgt'\]"):
        trace(model, {"tgt": "(B, T, 7)"})
    with pytest.raises(ConfigError, match=r"takes 2 inputs \(source, target\): declare each, by name"):
        trace(model, "(B, T, 5)")


def test_unused_input_and_unreachable_output():
    a, b = Input("(B, T, 5)", name="a"), Input("(B, T, 5)", name="b")
    with pytest.raises(ConfigError, match="input 'b' is never used"):
        Model(inputs=[a, b], outputs=LSTM(2)(a))
    with pytest.raises(ConfigError, match=r"not reachable from the inputs \['a'\] alone: "
                                         r"'lstm_\d+' input 0 from input 'b', an input not in `inputs`; add 'b' there"):
        Model(inputs=a, outputs=LSTM(2)(b))


def test_a_layer_reused_in_a_second_graph_is_traced_under_its_own_name():
    layer = LSTM(3, name="reused")
    a = Input("(B, T, 2)", name="a")
    Model(inputs=a, outputs=layer(a))
    b = Input("(B, T, 2)", name="b")
    tr = trace(Model(inputs=b, outputs=Dense(1, name="out")(layer(b))), "(B, T, 2)")
    assert [r.path for r in tr.layers] == ["reused", "out"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from([SimpleRNN, LSTM, GRU]), units=st.integers(1, 4), b=st.integers(1, 3),
       t_in=st.integers(1, 5), t_out=st.integers(1, 5), features=st.integers(1, 3), shared_head=st.booleans(),
       bidirectional=st.booleans())
def test_random_encoder_decoder_graphs_trace_as_they_run(cell, units, b, t_in, t_out, features, shared_head,
                                                        bidirectional):
    """Random seq2seq graphs (an optional bidirectional encoder whose states start two decoder
    directions, a head shared by two branches): the symbolic trace equals the real run's."""
    src, tgt = Input(f"(B, T_in, {features})", name="source"), Input("(B, T_out, 2)", name="target")
    if bidirectional:
        _, *states = Bidirectional(cell(units, return_state=True), name="enc")(src)
        dec = Bidirectional(cell(units, return_sequences=True), merge_mode="sum", name="dec")(tgt, initial_state=states)
    else:
        _, *states = cell(units, return_state=True, name="enc")(src)
        dec = cell(units, return_sequences=True, name="dec")(tgt, initial_state=states)
    head = Dense(2, name="head")
    skip = Dense(units, name="skip")(tgt)
    out = Sum(name="sum")([head(dec), head(skip) if shared_head else Dense(2, name="side")(skip)])
    model = Model(inputs=[src, tgt], outputs=out, seed=0)
    rng = np.random.default_rng(0)
    check(model, {"inputs": {"source": f"(B, T_in, {features})", "target": "(B, T_out, 2)"},
                  "dims": {"B": b, "T_in": t_in, "T_out": t_out}},
          {"inputs": {"source": rng.normal(size=(b, t_in, features)), "target": rng.normal(size=(b, t_out, 2))}})


def test_an_output_expectation_of_a_model_with_several_outputs_names_the_problem():
    from shapeviz import ConfigError, Dense, trace
    a, b = Input("(B, 3)", name="a"), Input("(B, 3)", name="b")
    model = Model(inputs=[a, b], outputs=[Dense(1, name="p")(a), Dense(2, name="q")(b)], seed=0)
    with pytest.raises(ConfigError, match=r"the expectations give 'output', but the model has 2 outputs: expect "
                                          r"each by the name of the layer that makes it"):
        trace(model, None, expect={"output": "(B, 1)"})
    assert trace(model, None, expect={"p": "(B, 1)", "q": "(B, 2)"}).outputs  # by layer name it works
