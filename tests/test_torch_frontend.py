"""The PyTorch front end: every mapping's outputs and gradients (inputs and every parameter) equal
torch's (float64 to 1e-12, float32 to 1e-5), every refusal by message, the weights back to torch."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
rnn_utils = torch.nn.utils.rnn

from shapeviz import from_torch  # noqa: E402
from shapeviz.frontends.base import ModelLoadError  # noqa: E402

B, T, FEAT, H = 3, 5, 4, 3


class Net(nn.Module):
    """A module whose forward is ``fn(self, *inputs)``: each test writes its forward as a function."""

    def __init__(self, fn: Callable, **modules: nn.Module) -> None:
        super().__init__()
        for name, m in modules.items():
            setattr(self, name, m)
        self.fn = fn

    def forward(self, x: Any) -> Any:
        return self.fn(self, x)


class Net2(Net):
    def forward(self, x: Any, y: Any) -> Any:
        return self.fn(self, x, y)


class Net3(Net):
    def forward(self, x: Any, y: Any, z: Any) -> Any:
        return self.fn(self, x, y, z)


def _flat(value: Any) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _flat(v)]
    return [value]


def rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b))) / scale


def twin_grads(twin: Any) -> dict[str, np.ndarray]:
    """The twin's parameter gradients under the module's state_dict keys (its params swapped for its grads)."""
    layers: list = []

    def walk(layer: Any) -> None:
        layers.append(layer)
        for sub in layer.sublayers():
            walk(sub)
    for layer in twin.layers:
        walk(layer)
    saved = [layer.params for layer in layers]
    for layer in layers:
        layer.params = dict(layer.grads)
    try:
        return {k: v.detach().numpy() for k, v in twin.to_torch_state_dict().items()}
    finally:
        for layer, params in zip(layers, saved):
            layer.params = params


def parity(module: nn.Module, inputs: Any, arrays: list[np.ndarray], tol: float = 1e-12) -> Any:
    """Import ``module``, then compare the outputs, the input gradients and every parameter gradient with
    torch's for one random cotangent. Returns the twin."""
    module.eval()
    twin = from_torch(module, inputs)
    tin = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    outs = _flat(module(*tin))
    y, cache = twin.forward(arrays if len(arrays) > 1 else arrays[0], training=False)
    ys = y if isinstance(y, list) else [y]
    assert len(ys) == len(outs)
    for a, b in zip(ys, outs):
        assert rel(a, b.detach().numpy()) <= tol
    rng = np.random.default_rng(1)
    douts = [rng.standard_normal(tuple(b.shape)).astype(arrays[0].dtype if arrays[0].dtype.kind == "f"
                                                          else twin.dtype) for b in outs]
    torch.autograd.backward(outs, [torch.tensor(d) for d in douts])
    twin.zero_grad()
    dxs = twin.backward(douts if len(douts) > 1 else douts[0], cache)
    dxs = dxs if isinstance(dxs, list) else [dxs]
    for t, dx in zip(tin, dxs):
        if t.requires_grad:
            assert rel(dx, t.grad.numpy()) <= tol
    mine = twin_grads(twin)
    for name, p in module.named_parameters():
        owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
        key = name
        if "bias_hh" in name and isinstance(owner, (nn.RNN, nn.LSTM)):
            key = name.replace("bias_hh", "bias_ih")  # one folded bias: both of torch's get its gradient
        assert rel(mine[key], p.grad.numpy()) <= tol, name
    return twin


def floats(*shape: int, seed: int = 0, dtype: Any = np.float64) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def seeded(fn: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(0)
    return fn().double()


# -- recurrent modules ---------------------------------------------------------------------------
RECURRENT = [
    ("rnn tanh", lambda: nn.RNN(FEAT, H, batch_first=True)),
    ("rnn relu time-major", lambda: nn.RNN(FEAT, H, nonlinearity="relu")),
    ("rnn 2 layers bidirectional no bias", lambda: nn.RNN(FEAT, H, num_layers=2, bidirectional=True, bias=False,
                                                           batch_first=True)),
    ("lstm", lambda: nn.LSTM(FEAT, H, batch_first=True)),
    ("lstm 2 layers bidirectional time-major", lambda: nn.LSTM(FEAT, H, num_layers=2, bidirectional=True)),
    ("lstm 3 layers dropout no bias", lambda: nn.LSTM(FEAT, H, num_layers=3, dropout=0.5, bias=False,
                                                      batch_first=True)),
    ("gru", lambda: nn.GRU(FEAT, H, batch_first=True)),
    ("gru 2 layers bidirectional", lambda: nn.GRU(FEAT, H, num_layers=2, bidirectional=True, batch_first=True)),
    ("gru no bias time-major", lambda: nn.GRU(FEAT, H, bias=False)),
]


@pytest.mark.parametrize("make", [m for _, m in RECURRENT], ids=[n for n, _ in RECURRENT])
def test_recurrent_modules_output_and_final_states(make):
    rec = seeded(make)
    x = floats(T, B, FEAT) if not rec.batch_first else floats(B, T, FEAT)
    decl = "(B, T, 4)" if rec.batch_first else "(T, B, 4)"
    twin = parity(Net(lambda self, x: self.rec(x), rec=rec), decl, [x])
    assert all(layer.name.startswith("rec") for layer in twin.layers)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_initial_states_become_initial_state(kind):
    L, D = 2, 2
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
    rec = seeded(lambda: cls(FEAT, H, num_layers=L, bidirectional=True, batch_first=True))
    x, h0, c0 = floats(B, T, FEAT), floats(L * D, B, H, seed=1), floats(L * D, B, H, seed=2)
    if kind == "lstm":
        net = Net3(lambda self, x, h, c: self.rec(x, (h, c)), rec=rec)
        parity(net, ("(B, T, 4)", "(4, B, 3)", "(4, B, 3)"), [x, h0, c0])
    else:
        net = Net2(lambda self, x, h: self.rec(x, h), rec=rec)
        parity(net, ("(B, T, 4)", "(4, B, 3)"), [x, h0])


def test_names_follow_torch():
    lstm = seeded(lambda: nn.LSTM(FEAT, H, num_layers=2, bidirectional=True, batch_first=True))
    twin = from_torch(Net(lambda self, x: self.lstm(x)[1][0], lstm=lstm), "(B, T, 4)")
    names = [sub.name for layer in twin.layers for sub in [layer, *layer.sublayers()]]
    assert names == ["lstm.layer0", "lstm.l0", "lstm.l0_reverse", "lstm.layer1", "lstm.l1", "lstm.l1_reverse",
                     "lstm.h_n"]
    # torch counts two biases per layer and direction
    assert sum(layer.shown_param_count() for layer in twin.layers) == sum(p.numel() for p in lstm.parameters())
    assert twin.torch_source.notes["lstm.l1_reverse"] == "layer 1, backward direction"


# -- indexing and unpacking -------------------------------------------------------------------------
def test_indexing_time_batch_and_layer_axes():
    lstm = seeded(lambda: nn.LSTM(FEAT, H, num_layers=2, bidirectional=True, batch_first=True))

    def fwd(self: Any, x: Any) -> Any:
        out, (h_n, c_n) = self.lstm(x)
        return out[:, -1, :], out[0], out[:, 1], h_n[-1], h_n[-2:], h_n[-2, :, :], c_n[0, :2], out[..., :2]
    parity(Net(fwd, lstm=lstm), "(B, T, 4)", [floats(B, T, FEAT)])


def test_last_step_of_a_time_major_output():
    rnn = seeded(lambda: nn.RNN(FEAT, H))
    parity(Net(lambda self, x: self.rnn(x)[0][-1], rnn=rnn), "(T, B, 4)", [floats(T, B, FEAT)])


# -- functions and methods --------------------------------------------------------------------------
def _ops(self: Any, x: Any) -> Any:
    out, h = self.gru(x)  # (B, T, 2H), (2, B, H)
    cat = torch.cat([h[0], h[1]], dim=1)  # (B, 2H)
    stacked = torch.stack([h[0], h[1]], dim=2)  # (B, H, 2)
    perm = out.permute(1, 0, 2)  # (T, B, 2H)
    tr = torch.transpose(out, 1, 2)  # (B, 2H, T)
    v = out.reshape(out.size(0), -1)  # (B, T*2H)
    w = out.contiguous().view(-1, 2 * H)  # (B*T, 2H)
    sq = h[-1].unsqueeze(1).squeeze(1)  # (B, H)
    fl = torch.flatten(out, 1) + self.flat(out)  # (B, T*2H)
    red = out.mean(dim=1) * torch.max(out, dim=1)[0] + out.sum(1) + out.max(1).values
    act = torch.relu(cat) + F.tanh(cat) + cat.sigmoid() + torch.sigmoid(cat) + F.relu(cat)
    soft = F.softmax(act, dim=-1) + torch.log_softmax(act, dim=1) + self.soft(act) + act.softmax(-1)
    return cat, stacked, perm, tr, v, w, sq, fl, red, soft


def test_functions_and_methods():
    gru = seeded(lambda: nn.GRU(FEAT, H, bidirectional=True, batch_first=True))
    net = Net(_ops, gru=gru, flat=nn.Flatten(), soft=nn.LogSoftmax(dim=-1))
    parity(net, "(B, T, 4)", [floats(B, T, FEAT)])


def test_embedding_padding_idx_sequential_and_activation_modules():
    torch.manual_seed(0)
    emb, lstm = nn.Embedding(12, FEAT, padding_idx=0).double(), nn.LSTM(FEAT, H, batch_first=True).double()
    head = nn.Sequential(nn.Linear(H, 5), nn.Tanh(), nn.Sequential(nn.Dropout(0.3), nn.Linear(5, 4), nn.ReLU()),
                         nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 3), nn.Softmax(dim=-1)).double()

    def fwd(self: Any, ids: Any) -> Any:
        out, _ = self.lstm(self.emb(ids))
        return self.head(out[:, -1])
    ids = np.random.default_rng(0).integers(0, 12, size=(B, T))
    ids[:, -2:] = 0  # padding: its row of the table gets no gradient
    twin = parity(Net(fwd, emb=emb, lstm=lstm, head=head), "(B, T)", [ids])
    assert {"emb", "lstm", "head.0", "head.2.1", "head.6"} <= {layer.name for layer in twin.layers}


def test_float32_within_1e_5():
    torch.manual_seed(0)
    lstm = nn.LSTM(FEAT, H, num_layers=2, bidirectional=True, batch_first=True)
    fc = nn.Linear(2 * H, 2)
    net = Net(lambda self, x: self.fc(torch.cat([self.lstm(x)[1][0][-2], self.lstm(x)[1][0][-1]], 1)),
              lstm=lstm, fc=fc)
    twin = parity(net, "(B, T, 4)", [floats(B, T, FEAT, dtype=np.float32)], tol=1e-5)
    assert twin.dtype == np.float32
    assert twin.torch_source.note.startswith("numpy twin matches torch: max rel err ")


# -- packed sequences --------------------------------------------------------------------------------
def _packed(self: Any, x: Any, lengths: Any) -> Any:
    packed = rnn_utils.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (h_n, c_n) = self.lstm(packed)
    padded, out_lengths = rnn_utils.pad_packed_sequence(out, batch_first=True)
    return padded, h_n, c_n


def test_packed_sequences_are_a_lengths_mask():
    lstm = seeded(lambda: nn.LSTM(FEAT, H, num_layers=2, bidirectional=True, batch_first=True))
    lengths = np.array([2, T, 3])  # unsorted; the longest is the whole T (torch pads to the longest)
    twin = parity(Net2(_packed, lstm=lstm), ("(B, T, 4)", "(B,)"), [floats(B, T, FEAT), lengths])
    assert twin.input_dtypes() == [np.float64, np.int64]
    assert twin.inputs[1].kind == "lengths"


def test_packed_time_major_gru_imported_by_name():
    gru = seeded(lambda: nn.GRU(FEAT, H, bidirectional=True))

    def fwd(self: Any, x: Any, lengths: Any) -> Any:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        out, h = self.gru(pack_padded_sequence(x, lengths))
        return pad_packed_sequence(out)[0], h[-1]
    parity(Net2(fwd, gru=gru), ("(T, B, 4)", "(B,)"), [floats(T, B, FEAT), np.array([T, 4, 2])])


def test_tracing_leaves_no_patch_behind():
    from torch.fx import _symbolic_trace

    original = rnn_utils.pack_padded_sequence
    lstm = seeded(lambda: nn.LSTM(FEAT, H, batch_first=True))
    from_torch(Net2(_packed, lstm=lstm), ("(B, T, 4)", "(B,)"))
    assert rnn_utils.pack_padded_sequence is original
    assert rnn_utils.pad_packed_sequence.__module__ == "torch.nn.utils.rnn"
    assert not hasattr(rnn_utils.pad_packed_sequence, "__wrapped__")
    # no global fx.wrap() registration (a GraphModule's generated code makes one) for the next trace to trip on
    assert not any("rnn" in name for _, name in _symbolic_trace._wrapped_fns_to_patch)
    from_torch(Net(lambda self, x: self.lstm(x)[0], lstm=lstm), "(B, T, 4)")
    torch.fx.symbolic_trace(Net(lambda self, x: x.relu()))


# -- back to torch ------------------------------------------------------------------------------------
def test_trained_weights_load_strictly_and_predict_alike():
    from shapeviz.core.optimizers import Adam

    torch.manual_seed(0)
    emb, lstm = nn.Embedding(20, FEAT, padding_idx=0), nn.LSTM(FEAT, H, num_layers=2, bidirectional=True,
                                                              batch_first=True)
    fc = nn.Linear(2 * H, 1)

    def fwd(self: Any, ids: Any) -> Any:
        _, (h, _) = self.lstm(self.emb(ids))
        return self.fc(torch.cat((h[-2], h[-1]), dim=1))
    net = Net(fwd, emb=emb, lstm=lstm, fc=fc)
    twin = from_torch(net, "(B, T)")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, size=(16, 6)), rng.standard_normal((16, 1)).astype(np.float32)
    twin.compile("mse", Adam(0.05))
    twin.fit(x, y, epochs=3, batch_size=8, verbose=0)
    state = twin.to_torch_state_dict()
    fresh = Net(fwd, emb=nn.Embedding(20, FEAT, padding_idx=0),
                lstm=nn.LSTM(FEAT, H, num_layers=2, bidirectional=True, batch_first=True), fc=nn.Linear(2 * H, 1))
    fresh.load_state_dict(state, strict=True)
    assert set(state) == set(net.state_dict())
    with torch.no_grad():
        theirs = fresh.eval()(torch.from_numpy(x)).numpy()
    mine = twin.predict(x)
    assert rel(mine, theirs) <= 1e-5
    assert rel(theirs, net.eval()(torch.from_numpy(x)).detach().numpy()) > 1e-3  # it did train


def test_a_model_not_from_torch_has_no_state_dict():
    from shapeviz import ConfigError, Dense, Sequential

    with pytest.raises(ConfigError, match="was not imported from torch"):
        Sequential([Dense(2)]).to_torch_state_dict()


# -- refusals --------------------------------------------------------------------------------------
class Cell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(FEAT, H))

    def forward(self, x: Any) -> Any:
        return torch.tanh(x @ self.W)


def _loop(self: Any, x: Any) -> Any:
    h = x[:, 0]
    for t in range(x.size(1)):
        h = h + x[:, t]
    return h


def _branch(self: Any, x: Any) -> Any:
    if x.sum() > 0:
        return x
    return -x


REFUSALS = [
    ("proj_size", lambda: Net(lambda self, x: self.lstm(x)[0], lstm=nn.LSTM(FEAT, H, proj_size=2, batch_first=True)),
     r"module 'lstm' at test_torch_frontend\.py:\d+ in <lambda>: .*nn\.LSTM\(proj_size=2\) has no twin: shapeviz's LSTM "
     r"has no projection; supported: num_layers, bidirectional"),
    ("custom cell", lambda: Net(lambda self, x: self.cell(x), cell=Cell()),
     r"get_attr 'cell\.W'.*a parameter or buffer read directly in forward has no twin.*supported: modules "
     r"nn\.Dropout, nn\.Embedding"),
    ("loop over time", lambda: Net(_loop),
     r"torch\.fx cannot trace Net\.forward \(TypeError: 'Proxy' object cannot be interpreted as an integer\) at "
     r"test_torch_frontend\.py:\d+ in _loop: for t in range\(x\.size\(1\)\):\. A Python loop or branch"),
    ("branch on values", lambda: Net(_branch),
     r"torch\.fx cannot trace Net\.forward \(TraceError: .*\) at test_torch_frontend\.py:\d+ in _branch: "
     r"if x\.sum\(\) > 0:"),
    ("unknown function", lambda: Net(lambda self, x: torch.cumsum(x, 1)),
     r"function torch\.cumsum at test_torch_frontend\.py:\d+ in <lambda>: .*no converter; supported: modules "
     r".*nn\.LSTM.*functions .*torch\.cat.*tensor methods .*\.permute\(\)"),
    ("softmax over time", lambda: Net(lambda self, x: F.softmax(x, dim=1)),
     r"function F\.softmax .*softmax over dim=1 of a rank-3 tensor has no twin"),
    ("a constant", lambda: Net(lambda self, x: x * 2),
     r"function operator\.mul .*\* with the constant 2 has no twin"),
]


@pytest.mark.parametrize("make, message", [(m, msg) for _, m, msg in REFUSALS], ids=[n for n, _, _ in REFUSALS])
def test_refusals_name_the_node_its_line_and_what_maps(make, message):
    with pytest.raises(ModelLoadError, match=message):
        from_torch(make(), "(B, T, 4)")


def test_a_twin_that_differs_is_an_error_naming_the_node(monkeypatch):
    from shapeviz.frontends.torch import registry

    monkeypatch.setitem(registry.MODULES, nn.Tanh, registry.MODULES[nn.ReLU].__wrapped__
                        if hasattr(registry.MODULES[nn.ReLU], "__wrapped__") else _relu_for_tanh)
    net = Net(lambda self, x: self.act(self.fc(x)), fc=nn.Linear(FEAT, H), act=nn.Tanh())
    with pytest.raises(ModelLoadError, match=r"the numpy twin differs from torch at module 'act' "
                                             r"\(test_torch_frontend\.py:\d+.*\): max rel err"):
        from_torch(net, "(B, 4)")


def _relu_for_tanh(ctx: Any, node: Any, module: Any, x: Any) -> Any:
    from shapeviz.core.activation import Activation
    return Activation("relu", name=ctx.unique(str(node.target)))(x)


def test_without_torch_the_error_says_how_to_install(monkeypatch):
    import sys

    from shapeviz.frontends.torch import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModelLoadError, match=r'needs torch, which is not installed .*pip install "shapeviz\[torch\]"'):
        require_torch()


def test_the_declaration_comes_from_the_module():
    rnn = seeded(lambda: nn.RNN(FEAT, H, batch_first=True))
    net = Net(lambda self, x: self.rnn(x)[0], rnn=rnn)
    with pytest.raises(ModelLoadError, match=r"expected the input shape of Net, e\.g\. --input"):
        from_torch(net)
    net.inputs = "(B, T, 4)"
    assert from_torch(net).input_tensors[0].node.declaration == "(B, T, 4)"
    del net.inputs
    net.example_inputs = torch.zeros(2, 7, FEAT, dtype=torch.float64)
    assert from_torch(net).input_tensors[0].node.declaration == "(B, T, 4)"
