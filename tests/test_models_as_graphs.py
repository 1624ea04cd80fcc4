"""EncoderDecoder's teacher-forced path is a graph: it runs a Functional made of its own layers, and the
same weights in a Functional written with Input, LSTM(return_state) and initial_state give the same outputs
and the same gradients."""

import numpy as np
import pytest

from shapeviz import GRU, LSTM, Dense, EncoderDecoder, Input, Model, SimpleRNN


def _graph_twin(model: EncoderDecoder):
    """The Functional the note in core/encoder_decoder.py describes, with fresh layers of the same kinds."""
    source = Input((None, None, model.encoder[0].input_features), name="source")
    target = Input((None, None, model.decoder[0].input_features), name="decoder_inputs")
    twins = {}  # the model's layer -> its twin in the graph
    x, finals = source, []
    for layer in model.encoder:
        twins[layer] = type(layer)(layer.units, return_sequences=True, return_state=True)
        out = twins[layer](x)
        x, finals = out[0], finals + [list(out[1:])]
    y = target
    for layer, states in zip(model.decoder, finals):
        twins[layer] = type(layer)(layer.units, return_sequences=True)
        y = twins[layer](y, initial_state=states)
    twins[model.head] = Dense(model.head.units, activation=model.head.activation)
    graph = Model(inputs=[source, target], outputs=twins[model.head](y), dtype="float64")
    for layer, twin in twins.items():
        twin.set_weights(layer.get_weights())
    return graph, twins


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_teacher_forcing_is_the_graph(cls):
    rng = np.random.default_rng(0)
    model = EncoderDecoder([cls(5), cls(4)], [cls(5), cls(4)], Dense(3, activation="tanh"), dtype="float64", seed=0)
    x_enc = rng.standard_normal((2, 6, 3))  # (B, T_in, F)
    x_dec = rng.standard_normal((2, 4, 2))  # (B, T_out, V_in)
    y, cache = model.forward((x_enc, x_dec))
    twin, twins = _graph_twin(model)
    y_graph, graph_cache = twin.forward([x_enc, x_dec])
    np.testing.assert_allclose(y_graph, y, rtol=1e-12, atol=1e-12)

    dy = rng.standard_normal(y.shape)
    model.zero_grad()
    twin.zero_grad()
    dx_enc, dx_dec = model.backward(dy, cache)
    dx_enc_graph, dx_dec_graph = twin.backward(dy, graph_cache)
    np.testing.assert_allclose(dx_enc_graph, dx_enc, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx_dec_graph, dx_dec, rtol=1e-10, atol=1e-12)
    assert len(model.parameters()) == len(twin.parameters()) == 4 * 3 + 2  # kernel, recurrent_kernel, bias; head
    for layer in model.layers:
        for key in layer.grads:
            np.testing.assert_allclose(twins[layer].grads[key], layer.grads[key], rtol=1e-10, atol=1e-12)


def test_encoder_decoder_runs_its_graph_of_the_users_layers():
    import copy

    from shapeviz.core.functional import Functional
    from shapeviz.errors import ConfigError

    enc, dec, head = LSTM(4, name="e"), LSTM(4, name="d"), Dense(2, name="h")
    model = EncoderDecoder([enc], [dec], head, seed=0)
    graph = model._graph
    assert isinstance(graph, Functional) and graph.input_names == ["source", "decoder_inputs"]
    assert [n.name for n in graph.nodes] == ["e", "d", "h"]
    assert [getattr(n.layer, "_layer", n.layer) for n in graph.nodes] == [enc, dec, head]
    # the user's layers keep their options and are not marked as called in a graph of theirs
    assert (enc.return_sequences, enc.return_state) == (False, False) and "_graph_calls" not in head.__dict__
    x = (np.ones((2, 3, 5), np.float32), np.ones((2, 4, 3), np.float32))
    y = model(x)
    twin = copy.deepcopy(model)  # a copy remakes the graph from its own layers
    assert twin._graph is not graph and twin._graph.nodes[0].layer._layer is twin.encoder[0]
    np.testing.assert_array_equal(twin(x), y)
    model.decoder[0] = LSTM(4, name="d2")  # fits, but the graph was made of 'd'
    with pytest.raises(ConfigError, match=r"layer 'd2' was put in after the model was made; the model runs the "
                                          r"layers it was made with"):
        model(x)
