"""Building the shapeviz twin of a Keras model config: Sequential onto Sequential, anything else onto
a functional graph (:class:`~shapeviz.core.functional.Functional`), with the weights loaded.

Both dialects of the functional config are read: Keras 3's ``inbound_nodes`` as ``{"args": [...],
"kwargs": {...}}`` with ``__keras_tensor__`` dicts whose ``keras_history`` is ``[layer, node_index,
tensor_index]`` (``initial_state`` and ``mask`` in the kwargs; the ops that compute masks, such as
``NotEqual`` and ``Any``, listed among the layers), and Keras 2's nested lists ``[[name, node_index,
tensor_index, kwargs], ...]`` (an RNN's initial states as extra inputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.frontends.keras import layers as _layers  # noqa: F401 - registers the converters
from shapeviz.frontends.keras.files import KerasSource
from shapeviz.frontends.keras.layers import InputMarker
from shapeviz.frontends.keras.registry import KerasImportError, convert, raise_problems

#: the Keras ops a Keras 3 functional config records for mask computations: NotEqual and Any are
#: read as the masks they compute; LogicalOr as the OR of masks; the others (a Concatenate's
#: ExpandDims, ZerosLike, ...) as "some mask", whose presence is checked
MASK_OPS = ("NotEqual", "Any", "LogicalOr", "LogicalAnd", "ExpandDims", "ZerosLike", "OnesLike", "Cast", "Concatenate")


def _is_op(entry: dict) -> bool:
    """Whether a config entry is a Keras operation rather than a layer: its module says so (a
    ``.keras`` file), or, where the module is not written (a Keras 3 ``.h5``), a mask op's class with
    an op's bare config."""
    module = str(entry.get("module") or "")
    if module:
        return module.startswith("keras.src.ops")
    return entry.get("class_name") in MASK_OPS and "trainable" not in entry.get("config", {})
_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "Bidirectional")


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _ref(value: dict) -> tuple:
    layer, node, index = value["config"]["keras_history"]
    return (layer, int(node), int(index))


class Call:
    """One call of a layer in the graph: its inputs (refs), whether they came as a list, its initial
    states, its mask (Keras 3's explicit mask), and the layer's node index."""

    def __init__(self, layer: str, node: int, inputs: list, listed: bool, states: list, mask: Any,
                 const: list) -> None:
        self.layer, self.node, self.inputs, self.listed = layer, node, inputs, listed
        self.states, self.mask, self.const = states, mask, const
        self.op_class = ""  # for a mask op (NotEqual, Any): its class


def _calls_keras3(name: str, nodes: list) -> list[Call]:
    calls = []
    for k, node in enumerate(nodes):
        args, kwargs = node.get("args", []), node.get("kwargs", {})
        first = args[0] if args else None
        listed = isinstance(first, list)
        inputs = [_ref(t) for t in first] if listed else ([_ref(first)] if _is_ref(first) else [])
        const = [a for a in args[1:]]
        states = [_ref(t) for t in (kwargs.get("initial_state") or []) if _is_ref(t)]
        mask = kwargs.get("mask")
        mask_ref = None
        if isinstance(mask, list):
            refs = [_ref(m) if _is_ref(m) else None for m in mask]
            mask_ref = refs if any(r is not None for r in refs) else None
        elif _is_ref(mask):
            mask_ref = _ref(mask)
        calls.append(Call(name, k, inputs, listed, states, mask_ref, const + [kwargs]))
    return calls


def _calls_keras2(name: str, class_name: str, nodes: list) -> list[Call]:
    calls = []
    for k, node in enumerate(nodes):
        refs = [(e[0], int(e[1]), int(e[2])) for e in node]
        kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
        states = [(s[0], int(s[1]), int(s[2])) for s in kwargs.get("initial_state", []) if isinstance(s, list)]
        if class_name in _RECURRENT and len(refs) > 1:
            refs, states = refs[:1], refs[1:] + states  # Keras 2 calls an RNN on [x, *initial_states]
        listed = len(refs) > 1 or class_name in ("Concatenate", "Add", "Subtract", "Multiply", "Average")
        calls.append(Call(name, k, refs, listed, states, None, [kwargs]))
    return calls


def build(source: KerasSource) -> tuple[Any, dict]:
    """The shapeviz model of ``source`` with its weights, and facts for the declarations
    (``inputs``: per Input layer name its Keras batch shape, in the model's input order)."""
    config = source.config
    cls = config["class_name"]
    problems: list[str] = []
    if cls == "Sequential":
        inner = config["config"]
        # Keras before 2.2.5 wrote a Sequential's config as the bare list of its layers
        model, facts = _sequential({"layers": inner} if isinstance(inner, list) else inner, source, problems)
    elif cls in ("Functional", "Model"):
        model, facts = _functional(config["config"], source, problems)
    else:
        raise KerasImportError(f"{source.where}: expected a Sequential or functional Keras model, got the class "
                               f"{cls!r} (a subclassed model has no config to read: rebuild it as a functional "
                               "model)")
    raise_problems(problems, source.where)
    _load_weights(model, source, problems)
    raise_problems(problems, source.where)
    return model, facts


# -- Sequential ---------------------------------------------------------------------------
def _sequential(cfg: dict, source: KerasSource, problems: list[str]) -> tuple[Any, dict]:
    from shapeviz.core.sequential import Sequential

    entries = list(cfg.get("layers", []))
    marker = None
    layers = []
    masked = False
    for i, entry in enumerate(entries):
        cls, lcfg = entry.get("class_name"), entry.get("config", {})
        name = lcfg.get("name", f"layer_{i}")
        if cls == "InputLayer":
            marker = convert(cls, name, lcfg, source.keras2, problems)
            continue
        if marker is None and (lcfg.get("batch_input_shape") or lcfg.get("batch_shape")):
            shape = lcfg.get("batch_input_shape") or lcfg.get("batch_shape")
            marker = InputMarker(f"{name}_input", list(shape), "float32")
        layer = convert(cls, name, lcfg, source.keras2, problems)
        if layer is None:
            continue
        _check_masked_rnn(layer, lcfg, cls, name, masked, False, problems)
        masked = _next_masked(layer, cls, masked)
        layers.append(layer)
    if marker is None:
        problems.append("the Sequential model has no input shape (no InputLayer and no batch_input_shape): build "
                        "it in Keras with keras.Input(...) first")
    if problems:
        return None, {}
    model = Sequential(layers, name=cfg.get("name"))
    model.build(tuple(marker.shape))
    return model, {"inputs": {marker.name: marker.shape}}


def _next_masked(layer: Any, cls: str, masked: bool) -> bool:
    """Whether the next layer of a Sequential gets a mask (Keras's rules, which shapeviz follows)."""
    if cls == "Masking" or (cls == "Embedding" and getattr(layer, "mask_zero", False)):
        return True
    if not getattr(layer, "supports_masking", True) or cls.startswith("Global"):
        return False
    if cls in _RECURRENT:
        return masked and bool(getattr(layer, "return_sequences", False))
    return masked


def _check_masked_rnn(layer: Any, cfg: dict, cls: str, name: str, masked: bool, has_state: bool,
                      problems: list[str]) -> None:
    """Refuse the recurrent options whose masked outputs Keras computes differently from shapeviz."""
    if cls not in ("LSTM", "GRU", "SimpleRNN") or not masked or not cfg.get("return_sequences"):
        return
    where = f"layer {name!r} ({cls})"
    if cfg.get("zero_output_for_mask"):
        problems.append(f"{where}: option zero_output_for_mask=True on a masked input is not supported; shapeviz "
                        "repeats the last output at masked steps (Keras's default, zero_output_for_mask=False)")
    if has_state:
        problems.append(f"{where}: a masked input together with initial_state and return_sequences=True is not "
                        "supported: before the first unmasked step Keras outputs zeros where shapeviz outputs the "
                        "initial state")
    if cfg.get("go_backwards"):
        problems.append(f"{where}: go_backwards=True with return_sequences=True on a masked input is not supported: "
                        "Keras passes the mask on unreversed with the reversed outputs (wrap the layer in "
                        "Bidirectional instead)")


# -- Functional ---------------------------------------------------------------------------
def _functional(cfg: dict, source: KerasSource, problems: list[str]) -> tuple[Any, dict]:
    from shapeviz.core.functional import Functional
    from shapeviz.core.graph import Input

    entries = list(cfg.get("layers", []))
    made: dict[str, Any] = {}  # layer name -> shapeviz layer or InputMarker
    classes: dict[str, str] = {}
    configs: dict[str, dict] = {}
    ops: dict[str, Call] = {}
    calls: list[Call] = []
    explicit = False  # Keras 3 records every call's mask: compare it with what shapeviz's graph hands on
    for i, entry in enumerate(entries):
        cls = entry.get("class_name")
        lcfg = entry.get("config", {})
        name = entry.get("name") or lcfg.get("name", f"layer_{i}")
        nodes = entry.get("inbound_nodes", [])
        keras3 = any(isinstance(n, dict) for n in nodes)
        these = _calls_keras3(name, nodes) if keras3 else _calls_keras2(name, cls, nodes)
        classes[name], configs[name] = cls, lcfg
        if _is_op(entry):  # an operation (keras.src.ops), not a layer
            if these:
                ops[name] = these[0]
                these[0].op_class = cls
            continue
        made[name] = convert(cls, name, lcfg, source.keras2, problems)
        calls += these
        explicit = explicit or keras3
    if problems:
        return None, {}

    for call in calls:
        for r in call.inputs + call.states:
            if r[0] in ops:
                op = ops[r[0]]
                problems.append(f"layer {call.layer!r} ({classes[call.layer]}) reads the result of the operation "
                                f"{r[0]!r} ({op.op_class}): operations (keras.ops calls) in a functional model are not "
                                "supported, only the mask computations Keras records")
    if problems:
        return None, {}

    # which inputs hold ids: those an Embedding reads
    id_inputs = {c.inputs[0][0] for c in calls if classes.get(c.layer) == "Embedding" and c.inputs}
    tensors: dict[tuple, Any] = {}
    masks: dict[tuple, Any] = {}  # shapeviz's mask of each tensor, as a token (None: no mask)
    facts_inputs: dict[str, list] = {}
    for name, obj in made.items():
        if isinstance(obj, InputMarker):
            dtype = "int64" if name in id_inputs else None
            tensors[(name, 0, 0)] = Input(tuple(obj.shape), name=name, dtype=dtype)
            masks[(name, 0, 0)] = None
            facts_inputs[name] = obj.shape
    pending = list(calls)
    while pending:
        progressed = False
        for call in list(pending):
            needed = call.inputs + call.states
            if not all(r in tensors for r in needed):
                continue
            pending.remove(call)
            progressed = True
            _run_call(call, made[call.layer], classes[call.layer], configs[call.layer], tensors, masks, ops,
                      explicit, problems)
        if not progressed:
            missing = sorted({r[0] for c in pending for r in c.inputs + c.states if r not in tensors})
            problems.append(f"the graph cannot be built: layers {sorted({c.layer for c in pending})} read "
                            f"tensors nothing makes ({', '.join(missing)})")
            break
    if problems:
        return None, {}

    def refs(key: str) -> list:
        value = cfg.get(key, [])
        if value and not isinstance(value[0], list):
            value = [value]
        return [(v[0], int(v[1]), int(v[2])) for v in value]

    ins = [tensors[r] for r in refs("input_layers")]
    outs = [tensors[r] for r in refs("output_layers")]
    facts_inputs = {r[0]: facts_inputs[r[0]] for r in refs("input_layers")}  # in the model's input order
    model = Functional(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0], name=cfg.get("name"))
    if not model.built:
        model.build()
    return model, {"inputs": facts_inputs}


def _keras_mask_token(ref: Any, ops: dict) -> Any:
    """The mask a Keras 3 call receives, as a token comparable with shapeviz's."""
    if ref is None:
        return None
    if isinstance(ref, list):
        return tuple(_keras_mask_token(r, ops) for r in ref)
    op = ops.get(ref[0])
    if op is None:
        return ("opaque", ref)
    if op.inputs:
        inner = op.inputs[0]
        kind = getattr(op, "op_class", "")
        if kind == "NotEqual":
            value = op.const[0] if op.const and not isinstance(op.const[0], dict) else 0
            return ("ne", inner, float(value))
        if kind == "Any":
            return ("any", _keras_mask_token(inner, ops))
        if kind == "LogicalOr" and len(op.inputs) >= 1:
            parts = [_keras_mask_token(r, ops) for r in op.inputs]
            parts += [_keras_mask_token(_ref(a), ops) for a in op.const if _is_ref(a)]
            return _or_token(parts)
    return ("opaque", ref)




def _run_call(call: Call, layer: Any, cls: str, cfg: dict, tensors: dict, masks: dict, ops: dict,
              explicit: bool, problems: list[str]) -> None:
    xs = [tensors[r] for r in call.inputs]
    in_masks = [masks.get(r) for r in call.inputs]
    takes_mask = getattr(layer, "supports_masking", True)
    if not takes_mask:
        given = None
    elif call.listed:
        given = tuple(in_masks) if any(m is not None for m in in_masks) else None
    else:
        given = in_masks[0] if in_masks else None
    keras_mask = _keras_mask_token(call.mask, ops)
    uses_mask = cls in _RECURRENT or cls == "GlobalAveragePooling1D"
    if explicit and uses_mask and _differs(given, keras_mask):
        problems.append(f"layer {call.layer!r} ({cls}): Keras hands this call the mask {_show(keras_mask)}, "
                        f"shapeviz's graph would hand it {_show(given)}: the twin would compute something else")
    _check_masked_rnn(layer, cfg, cls, call.layer, given is not None, bool(call.states), problems)
    try:
        x = xs if call.listed else xs[0]
        kwargs = {"initial_state": [tensors[r] for r in call.states]} if call.states else {}
        out = layer(x, **kwargs)
    except Exception as error:  # noqa: BLE001 - a shapeviz error about this call, with its name
        problems.append(f"layer {call.layer!r} ({cls}): calling it on {[getattr(t, 'shape', '?') for t in xs]} "
                        f"failed: {error}")
        return
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    out_mask = _shapeviz_mask(layer, cls, call, given)
    for k, t in enumerate(outs):
        tensors[(call.layer, call.node, k)] = t
        masks[(call.layer, call.node, k)] = out_mask if k == 0 else None


def _differs(given: Any, keras: Any) -> bool:
    if keras is None or given is None:
        return (keras is None) != (given is None)
    if isinstance(keras, tuple) and keras and keras[0] == "opaque" or given == ("some mask",):
        return False  # a mask computed by ops shapeviz does not read: its presence agrees
    return given != keras


def _show(token: Any) -> str:
    if token is None:
        return "none"
    if token[0] == "ne":
        return f"({token[1][0]} != {token[2]:g})"
    if token[0] == "any":
        return f"any{_show(token[1])}"
    if token[0] == "rev":
        return f"reversed{_show(token[1])}"
    if token[0] in ("or", "and"):
        return "(" + f" {'|' if token[0] == 'or' else '&'} ".join(sorted(_show(t) for t in token[1])) + ")"
    if token[0] == "opaque":
        return f"computed by {token[1][0]!r}"
    return "a mask"


def _shapeviz_mask(layer: Any, cls: str, call: Call, given: Any) -> Any:
    """The mask shapeviz's graph attaches to the call's first output, as a token."""
    src = call.inputs[0] if call.inputs else None
    if cls == "Embedding":
        return ("ne", src, 0.0) if layer.mask_zero else None
    if cls == "Masking":
        return ("any", ("ne", src, float(layer.mask_value)))
    if given is None or not getattr(layer, "supports_masking", True) or cls.startswith("Global"):
        return None
    if cls in _RECURRENT:
        if not layer.return_sequences:
            return None
        return ("rev", given) if getattr(layer, "go_backwards", False) and cls != "Bidirectional" else given
    if call.listed:
        present = [m for m in given if m is not None]
        if getattr(layer, "mask_mode", "and") == "or":
            if len(present) < len(given):
                return None
            if cls == "Concatenate":
                return ("some mask",)  # Keras computes it by ops read only as "a mask"
            return _or_token(present)
        return present[0] if all(m == present[0] for m in present) else ("and", frozenset(present))
    return given


def _or_token(parts: list) -> Any:
    flat: set = set()
    for p in parts:
        if isinstance(p, tuple) and p and p[0] == "or":
            flat |= p[1]
        else:
            flat.add(p)
    return next(iter(flat)) if len(flat) == 1 else ("or", frozenset(flat))


# -- weights ------------------------------------------------------------------------------
def _load_weights(model: Any, source: KerasSource, problems: list[str]) -> None:
    if source.weights is None:
        return
    for layer in model.layers:
        n_params = sum(1 for _ in layer.get_weights()) if layer.built else 0
        have = source.weights.get(layer.name)
        if have is None:
            if n_params:
                problems.append(f"layer {layer.name!r}: {source.where} holds no weights for it")
            continue
        if not n_params and not have:
            continue
        try:
            layer.set_weights([np.asarray(w, dtype=model.dtype) for w in have])
        except Exception as error:  # noqa: BLE001 - the weights do not fit: said with the layer's name
            problems.append(f"layer {layer.name!r}: the saved weights do not fit: {error}")
