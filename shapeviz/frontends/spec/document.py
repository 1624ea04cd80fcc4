"""A whole spec: :class:`Spec`, what it gives, and :func:`load_spec` / :func:`build_spec`, which build one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapeviz.core.model import Model
from shapeviz.frontends.spec.builder import Builder, closest, describe, one_of
from shapeviz.frontends.spec.expect import read_expect
from shapeviz.frontends.spec.inputs import read_dims, read_inputs, read_roles
from shapeviz.frontends.spec.layers import names_given
from shapeviz.frontends.spec.models import build_model, check_mode, compile_model
from shapeviz.frontends.spec.reading import read_spec_file
from shapeviz.frontends.spec.schema import MODEL_KINDS, REQUIRED_MODEL_OPTIONS, SECTIONS, STRING, TABLE, TOP_LEVEL


@dataclass
class Spec:
    """A loaded spec: the model, built, and everything needed to trace it.

    Attributes:
        model: the model, built through the public constructors (compiled when the spec has a loss).
        inputs: the input declaration, ``"(B, T, 2)"``, or (source, decoder inputs) for an
            encoder_decoder model, or a dict by input name for a graph model.
        dims: sizes given in ``[dims]``, ``{"B": 32}``.
        expect: expected shapes, ``{"output": "(B, 1)", "lstm_1": "(B, 128)"}``.
        labels: the labels' shape, or None.
        mask: the mask's shape, or None.
        mode: the model's sequence mode (checked against the spec's ``mode`` when it gives one).
        source: the file the spec came from, or ``"<dict>"``.
        roles: roles given in ``[roles]``, ``{"T_in": "time"}`` (see :meth:`trace`).
        loss: the loss name, or None.
        description: the spec's free-text description, or None.
    """

    model: Model
    inputs: str | tuple[str, str] | dict[str, str]
    dims: dict[str, int] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)
    labels: str | None = None
    mask: str | None = None
    mode: str = ""
    source: str = "<dict>"
    roles: dict[str, str] = field(default_factory=dict)
    loss: str | None = None
    description: str | None = None

    def trace(self) -> Any:
        """Trace the model on the spec's declarations: ``trace(model, inputs, dims=, expect=,
        labels=, mask=)``. Returns a :class:`~shapeviz.tracing.Trace`; raises ShapeError.

        ``roles`` are not passed: the tracer reads a dim's role from its name (``B`` batch,
        ``T``/``T_in``/``seq_len`` time, ``F``/``H`` features) and takes no roles argument yet.
        """
        from shapeviz.tracing.tracer import trace
        return trace(self.model, self.inputs, dims=self.dims, expect=self.expect, labels=self.labels,
                     mask=self.mask, roles=self.roles)


def load_spec(path: str | Path) -> Spec:
    """Read a ``.toml`` or ``.json`` spec file and build its model.

    Args:
        path: the spec file.

    Returns:
        The :class:`Spec`. Raises :class:`SpecError` for a file that cannot be read or decoded,
        or that does not describe a valid model.
    """
    source, text, suffix, data = read_spec_file(path)
    return build_document(Builder(source, text, suffix), data)


def build_spec(data: dict[str, Any], source: str = "<dict>") -> Spec:
    """Build a spec from its decoded form (what ``tomllib.loads`` or ``json.loads`` returns).

    Args:
        data: the spec as a dict.
        source: the name to show in messages.
    """
    return build_document(Builder(source, None, None), data)


def build_document(b: Builder, data: Any) -> Spec:
    """The whole spec ``data`` (a decoded document), built part by part; raises :class:`SpecError`."""
    if not isinstance(data, dict):
        raise b.error((), f"expected a table (a JSON object) at the top of the spec, got {describe(data)}")
    graph = isinstance(data.get("model"), dict) and data["model"].get("kind") == "graph"
    b.table(data, (), TOP_LEVEL, "the top level of a spec", required=("model",) if graph else ("model", "input"))
    model_table = b.typed(data["model"], ("model",), TABLE)
    if "kind" not in model_table:
        raise b.error(("model",), f"the model needs the key 'kind', one of: {one_of(MODEL_KINDS)}")
    kind = b.typed(model_table["kind"], ("model", "kind"), STRING)
    if kind not in MODEL_KINDS:
        raise b.error(("model", "kind"), f"unknown model kind {kind!r}{closest(kind, list(MODEL_KINDS))}; "
                                         f"expected one of: {one_of(MODEL_KINDS)}")
    cls, model_types, sections = MODEL_KINDS[kind]
    b.table(model_table, ("model",), list(model_types), f"a model of kind {kind!r}",
            REQUIRED_MODEL_OPTIONS.get(kind, ()))
    for key in SECTIONS:
        if key in data and key not in sections:
            raise b.error((key,), f"a {kind} model takes {one_of(sections)}, not {key!r}"
                                  + (" (its last layer is its head)" if kind == "sequential" and key == "head" else "")
                                  + (f"; only a graph model declares [[inputs]], nodes and outputs (a {kind} "
                                     "model's input is `input`)" if key in ("inputs", "nodes", "outputs") else ""))
    if kind == "graph" and "input" in data:
        raise b.error(("input",), 'a graph model declares each input as an [[inputs]] table (name = "source", '
                                  'shape = "(B, T, 8)"), not `input`')
    for key in sections:
        if key not in data:
            raise b.error((), f"a {kind} model needs the key {key!r}")
    b.given_names = names_given([data[key] for key in sections])

    model, graph_inputs = build_model(b, cls, kind, data, model_table, sections)
    inputs = graph_inputs if graph_inputs is not None else read_inputs(b, data.get("input"), kind)
    labels = b.shape(data["labels"], ("labels",)) if "labels" in data else None
    mask = b.shape(data["mask"], ("mask",)) if "mask" in data else None
    expect = read_expect(b, data.get("expect", {}))
    dims = read_dims(b, data.get("dims", {}))
    roles = read_roles(b, data.get("roles", {}))
    loss = compile_model(b, model, data)
    if ("labels" in data or "labels" in expect) and loss is None:
        key = ("labels",) if "labels" in data else ("expect", "labels")
        raise b.error(key, 'checking the labels needs a loss: add one, e.g. loss = "mse"')
    mode = check_mode(b, data, model, kind)
    description = b.typed(data["description"], ("description",), STRING) if "description" in data else None
    return Spec(model=model, inputs=inputs, dims=dims, expect=expect, labels=labels, mask=mask, mode=mode,
                source=b.source, roles=roles, loss=loss, description=description)
