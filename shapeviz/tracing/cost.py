"""What a model costs, as polynomials in its dims: MACs and FLOPs per layer, per timestep, forward and backward.

The counts come from running the real code: :mod:`~shapeviz.tracing.counting` tallies every
operation the tracer runs, and :func:`build` turns the tallies into these records. A time loop of
symbolic length ``T`` is traced over a few representative steps (0, 1, T-1); each traced step
stands for a number of steps (step 1 for the ``T-2`` steps from 1 to T-2), and a count is that
step's count times that number, so the sum over the traced steps is the count of all ``T``.

With a mask, the numpy core still computes every step of every row (a masked step computes and
then carries its state unchanged), so the counts are those of the full ``B·T`` grid. The real
work — what a packed-sequence implementation (PyTorch's ``PackedSequence``, cuDNN) performs —
has ``L`` (the sum of the sequence lengths, :data:`LENGTHS`) in place of ``B·T`` in every layer
that reads the mask: :meth:`Cost.real`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from shapeviz.tracing.counting import ELEMENTWISE, MAC, TRANSCENDENTAL, kind_of
from shapeviz.tracing.dims import Dim, DimLike, product

LENGTHS = "L"  # the sum of the sequence lengths of a batch (a masked batch's real (sample, step) pairs)


@dataclass(frozen=True)
class OpCount:
    """Operations of one kind of work, each a polynomial in the dims.

    Attributes:
        macs: multiply-accumulates of matrix products (torchinfo's "Mult-Adds").
        elementwise: arithmetic FLOPs outside matrix products (1 per element of ``+ - * /``...).
        transcendental: ``exp``, ``tanh``, ``log``, ``sqrt``... evaluations (1 per element).
    """

    macs: DimLike = 0
    elementwise: DimLike = 0
    transcendental: DimLike = 0

    @property
    def flops(self) -> Dim:
        """2 per MAC, plus the elementwise and transcendental operations."""
        return Dim.of(self.macs) * 2 + self.elementwise + self.transcendental

    def __add__(self, other: "OpCount") -> "OpCount":
        return OpCount(Dim.of(self.macs) + other.macs, Dim.of(self.elementwise) + other.elementwise,
                       Dim.of(self.transcendental) + other.transcendental)

    def scaled(self, k: DimLike) -> "OpCount":
        return OpCount(Dim.of(self.macs) * k, Dim.of(self.elementwise) * k, Dim.of(self.transcendental) * k)

    def map(self, f: Any) -> "OpCount":
        """This count with ``f`` applied to each of its polynomials."""
        return OpCount(f(Dim.of(self.macs)), f(Dim.of(self.elementwise)), f(Dim.of(self.transcendental)))

    def substitute(self, values: dict[str, int]) -> "OpCount":
        return self.map(lambda d: d.substitute(values))

    def as_dict(self) -> dict[str, Dim]:
        return {"macs": Dim.of(self.macs), "flops": self.flops, "elementwise": Dim.of(self.elementwise),
                "transcendental": Dim.of(self.transcendental)}


ZERO = OpCount()


@dataclass
class StepCost:
    """One traced timestep of one layer's time loop in one phase.

    Attributes:
        layer: the layer's path; ``phase`` "forward" or "backward".
        t: the step (0, 1, or a dim such as ``T-1``); ``label`` as text.
        count: the operations of this one step.
        stands_for: how many steps of the loop this one's count stands for (``T-2`` for step 1 of a
            symbolic T): the loop's count is the sum of ``count · stands_for`` over its traced steps.
    """

    layer: str
    phase: str
    t: Any
    count: OpCount
    stands_for: DimLike = 1

    @property
    def label(self) -> str:
        return str(Dim.of(self.t))

    @property
    def total(self) -> OpCount:
        return self.count.scaled(self.stands_for)


@dataclass
class LayerCost:
    """One layer's own operations (a wrapper's without its inner layers'), forward and backward.

    Attributes:
        path: the layer's path (``"loss"`` for the loss, the model's name for work outside layers).
        forward / backward: the counts, the time loop's included.
        mask: the ``(batch, time)`` dims of the mask the layer reads, or None.
    """

    path: str
    forward: OpCount = ZERO
    backward: OpCount = ZERO
    mask: tuple | None = None

    @property
    def total(self) -> OpCount:
        return self.forward + self.backward


@dataclass
class Cost:
    """The operation counts of a trace (``trace.cost``): formulas in the dims, numbers once bound.

    Attributes:
        layers: ``{path: LayerCost}``, every layer's own count (``"loss"`` for the loss).
        steps: the traced timesteps of every time loop, with what each stands for.
        model: the model's name (the path of work done outside any layer).
        values: the sizes bound to dims (from the trace), for :meth:`value`.
    """

    layers: dict[str, LayerCost] = field(default_factory=dict)
    steps: list[StepCost] = field(default_factory=list)
    model: str = ""
    values: dict[str, int] = field(default_factory=dict)

    # -- queries --------------------------------------------------------------------------
    def layer(self, path: str, phase: str = "forward", inclusive: bool = True) -> OpCount:
        """A layer's count in ``phase`` ("forward", "backward" or "total"), with its inner layers'
        (a Bidirectional's two directions) unless ``inclusive`` is False."""
        out = ZERO
        for p, rec in self.layers.items():
            if p == path or (inclusive and p.startswith(path + "/")):
                out = out + (rec.total if phase == "total" else getattr(rec, phase))
        return out

    def _sum(self, phase: str, with_loss: bool) -> OpCount:
        out = ZERO
        for p, rec in self.layers.items():
            if p != "loss" or with_loss:
                out = out + (rec.total if phase == "total" else getattr(rec, phase))
        return out

    @property
    def forward(self) -> OpCount:
        """The model's forward pass (the loss not included)."""
        return self._sum("forward", False)

    @property
    def backward(self) -> OpCount:
        """The model's backward pass, BPTT included (the loss's gradient not included)."""
        return self._sum("backward", False)

    @property
    def total(self) -> OpCount:
        """Forward and backward of the model (a training step without the loss and the optimizer)."""
        return self._sum("total", False)

    @property
    def loss(self) -> OpCount:
        return self.layers["loss"].total if "loss" in self.layers else ZERO

    def steps_of(self, path: str, phase: str = "forward") -> list[StepCost]:
        return [s for s in self.steps if (s.layer == path or s.layer.split("/")[-1] == path) and s.phase == phase]

    def value(self, d: DimLike, **values: int) -> int | None:
        """``d`` as a number once every dim in it has a size (the trace's bindings and ``values``)."""
        return Dim.of(d).substitute({**self.values, **values}).value

    # -- masks ----------------------------------------------------------------------------
    @property
    def masked(self) -> bool:
        return any(rec.mask is not None for rec in self.layers.values())

    def real(self, phase: str = "forward") -> OpCount | None:
        """The model's count with the sum of the sequence lengths ``L`` in place of ``B·T`` in the
        layers that read a mask: the work a packed-sequence implementation does (the numpy core
        does the full count: it computes masked steps too). None without a mask, or when a mask's
        axes are not named dims (``(B, 80)``: the batch-by-time terms cannot be told apart)."""
        if not self.masked:
            return None
        out = ZERO
        for p, rec in self.layers.items():
            if p == "loss":
                continue
            count = rec.total if phase == "total" else getattr(rec, phase)
            if rec.mask is not None:
                b, t = rec.mask
                if not (Dim.of(b).is_symbol and Dim.of(t).is_symbol):
                    return None
                count = count.map(lambda d: packed(d, Dim.of(b).symbol, Dim.of(t).symbol))
            out = out + count
        return out

    def bind(self, values: dict[str, int]) -> "Cost":
        """This cost with more sizes known (the formulas keep their names)."""
        return Cost(dict(self.layers), list(self.steps), self.model, {**self.values, **values})


def packed(d: Dim, batch: str, time: str) -> Dim:
    """``d`` with each ``batch·time`` factor replaced by :data:`LENGTHS` (``c·B·T·H`` → ``c·L·H``)."""
    terms: dict[tuple, int] = {}
    for mono, c in d.terms.items():
        rest = list(mono)
        if batch in rest and time in rest:
            rest.remove(batch)
            rest.remove(time)
            rest.append(LENGTHS)
        key = tuple(sorted(rest))
        terms[key] = terms.get(key, 0) + c
    return Dim(terms)


# -- from the counter's tallies ----------------------------------------------------------------
def _count(bucket: frozenset, products: dict[tuple, Dim]) -> OpCount:
    sums = {MAC: Dim.const(0), ELEMENTWISE: Dim.const(0), TRANSCENDENTAL: Dim.const(0)}
    for (kind, shape, k), n in bucket:
        kind = kind_of(kind)
        if not n or kind is None:
            continue
        size = products.get(shape)
        if size is None:
            size = products[shape] = product(shape)
        sums[kind] = sums[kind] + size * (Dim.of(k) * n)
    return OpCount(_norm(sums[MAC]), _norm(sums[ELEMENTWISE]), _norm(sums[TRANSCENDENTAL]))


def _norm(d: Dim) -> DimLike:
    return d.value if d.is_const else d  # type: ignore[return-value]


def build(buckets: dict[Any, frozenset], model: str, masks: dict[str, tuple],
          order: Iterable[str], values: dict[str, int]) -> Cost:
    """The :class:`Cost` of a counter's ``buckets``, keyed ``(path, phase, ((t, stands_for), ...))``
    (the loops the run was in, outermost first; ``path`` None outside any layer).

    Args:
        buckets: :meth:`shapeviz.tracing.counting.Counter.tallies`.
        model: the model's name, the path of operations outside any layer.
        masks: ``{path: (batch dim, time dim)}`` of the layers that read a mask.
        order: the layers' paths in the order to list them.
        values: the sizes bound to dims.
    """
    products: dict[tuple, Dim] = {}
    counts: dict[frozenset, OpCount] = {}  # a loop's steps tally alike: each content is converted once
    layers: dict[str, LayerCost] = {p: LayerCost(p, mask=masks.get(p)) for p in order}
    totals: dict[tuple, dict[tuple, int]] = {}  # (path, phase) -> {(content, stands_for): how many}
    steps: dict[tuple, StepCost] = {}
    for (path, phase, frames), bucket in buckets.items():
        path = model if path is None else path
        content = bucket  # interned by the counter: the alike steps of a loop share one
        count = counts.get(content)
        if count is None:
            count = counts[content] = _count(bucket, products)
        weight: DimLike = 1
        for _, w in frames:
            weight = w if type(weight) is int and weight == 1 else Dim.of(weight) * w
        per = totals.setdefault((path, phase), {})
        per[(content, weight)] = per.get((content, weight), 0) + 1
        if frames:  # a step of a time loop: labelled by the outermost loop's step, as the step records are
            (t, outer), inner = frames[0], 1
            for _, w in frames[1:]:
                inner = w if inner == 1 else Dim.of(inner) * w
            part = count if type(inner) is int and inner == 1 else count.scaled(inner).map(_norm)
            key = (path, phase, t if type(t) is int else str(t))
            step = steps.get(key)
            if step is None:
                steps[key] = StepCost(path, phase, t, part, outer if type(outer) is int else _norm(Dim.of(outer)))
            else:
                step.count = (step.count + part).map(_norm)
    for (path, phase), per in totals.items():
        rec = layers.get(path)
        if rec is None:
            rec = layers[path] = LayerCost(path, mask=masks.get(path))
        sums = {MAC: Dim.const(0), ELEMENTWISE: Dim.const(0), TRANSCENDENTAL: Dim.const(0)}
        for (content, weight), n in per.items():
            c, k = counts[content], Dim.of(weight) * n
            sums[MAC] = sums[MAC] + Dim.of(c.macs) * k
            sums[ELEMENTWISE] = sums[ELEMENTWISE] + Dim.of(c.elementwise) * k
            sums[TRANSCENDENTAL] = sums[TRANSCENDENTAL] + Dim.of(c.transcendental) * k
        setattr(rec, phase, OpCount(_norm(sums[MAC]), _norm(sums[ELEMENTWISE]), _norm(sums[TRANSCENDENTAL])))
    return Cost(layers, list(steps.values()), model, dict(values))
