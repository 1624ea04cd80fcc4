"""Symbolic dimensions: integer polynomials over named sizes (``B``, ``T``, ``4*H``, ``T+1``, ``B*T``)."""

from __future__ import annotations

from typing import Iterable, Mapping, Union

_CONSTS: dict[int, "Dim"] = {}
_SYMS: dict[str, "Dim"] = {}
_context = None  # shapeviz.tracing.context, set when it loads (it imports this module)

Monomial = tuple[str, ...]  # sorted names, repeated for powers; () is the constant term
DimLike = Union["Dim", int]


class Dim:
    """An integer-valued polynomial over named sizes, immutable and hashable.

    Built from :meth:`sym` and ints with ``+``, ``-``, ``*`` and exact ``//``; two dims are
    equal when their canonical polynomials are. A constant dim equals (and hashes like) its int,
    so concrete and symbolic sizes mix freely in shapes.
    """

    __slots__ = ("_terms", "_hash")

    def __init__(self, terms: Mapping[Monomial, int]) -> None:
        self._terms = {m: c for m, c in terms.items() if c != 0}
        const = self._terms.get((), 0) if len(self._terms) <= 1 and set(self._terms) <= {()} else None
        self._hash = hash(const) if const is not None else hash(frozenset(self._terms.items()))

    # -- construction -------------------------------------------------------------
    @staticmethod
    def sym(name: str) -> "Dim":
        """The dim of one name; one object per name (dims are immutable), so the ``B`` of a mask and
        the ``B`` of the data compare by identity."""
        hit = _SYMS.get(name) if type(name) is str else None
        if hit is None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"a dim name must be a non-empty string, got {name!r}")
            hit = _SYMS[name] = Dim({(name,): 1})
        return hit

    @staticmethod
    def const(value: int) -> "Dim":
        value = int(value)
        hit = _CONSTS.get(value)
        if hit is None:
            hit = Dim({(): value})
            if -64 <= value <= 4096:
                _CONSTS[value] = hit
        return hit

    @staticmethod
    def of(value: DimLike) -> "Dim":
        """``value`` as a Dim (ints, numpy ints and Dims)."""
        if type(value) is Dim:
            return value  # type: ignore[return-value]
        if type(value) is int:
            return Dim.const(value)  # type: ignore[arg-type]
        if isinstance(value, bool):
            raise TypeError("a bool is not a dimension")
        try:
            return Dim.const(value.__index__())  # type: ignore[union-attr]
        except AttributeError:
            raise TypeError(f"cannot use {type(value).__name__} {value!r} as a dimension") from None

    # -- structure ----------------------------------------------------------------
    @property
    def terms(self) -> dict[Monomial, int]:
        return dict(self._terms)

    @property
    def is_const(self) -> bool:
        return set(self._terms) <= {()}

    @property
    def value(self) -> int | None:
        """The int this dim is, or None while it has names in it."""
        return self._terms.get((), 0) if self.is_const else None

    @property
    def names(self) -> set[str]:
        return {n for m in self._terms for n in m}

    @property
    def is_symbol(self) -> bool:
        """True for a single name with coefficient 1 (``B``), the only dims that can be bound."""
        return len(self._terms) == 1 and next(iter(self._terms.items()))[1] == 1 and len(next(iter(self._terms))) == 1

    @property
    def symbol(self) -> str:
        if not self.is_symbol:
            raise ValueError(f"{self} is not a single name")
        return next(iter(self._terms))[0]

    def substitute(self, values: Mapping[str, int]) -> "Dim":
        """Replace the names that ``values`` gives sizes for."""
        out: dict[Monomial, int] = {}
        for mono, coeff in self._terms.items():
            c = coeff
            rest = []
            for name in mono:
                if name in values:
                    c *= int(values[name])
                else:
                    rest.append(name)
            key = tuple(rest)
            out[key] = out.get(key, 0) + c
        return Dim(out)

    # -- arithmetic ---------------------------------------------------------------
    def as_number(self) -> object:
        """This size as a value in float arithmetic (``1.0 / B`` in a loss): a symbolic 0-d
        float64 array, or the plain number when the size is known."""
        if self.is_const:
            return float(self.value)  # type: ignore[arg-type]
        from shapeviz.tracing.symarray import SymArray  # dims are below arrays; import late
        return SymArray((), "float64", name=f"1*{self}")

    def _numeric(self, other: object) -> bool:
        return isinstance(other, float) or (hasattr(other, "__array_ufunc__") and not isinstance(other, Dim))

    def __truediv__(self, other: object) -> object:
        return self.as_number() / other  # type: ignore[operator]

    def __rtruediv__(self, other: object) -> object:
        return other / self.as_number()  # type: ignore[operator]

    def __add__(self, other: DimLike) -> "Dim":
        if self._numeric(other):
            return self.as_number() + other  # type: ignore[return-value, operator]
        o = Dim.of(other)
        terms = dict(self._terms)
        for m, c in o._terms.items():
            terms[m] = terms.get(m, 0) + c
        return Dim(terms)

    __radd__ = __add__

    def __neg__(self) -> "Dim":
        return Dim({m: -c for m, c in self._terms.items()})

    def __sub__(self, other: DimLike) -> "Dim":
        if self._numeric(other):  # as + does: a size in float arithmetic (B - 0.5)
            return self.as_number() - other  # type: ignore[return-value, operator]
        return self + (-Dim.of(other))

    def __rsub__(self, other: DimLike) -> "Dim":
        if self._numeric(other):
            return other - self.as_number()  # type: ignore[return-value, operator]
        return Dim.of(other) - self

    def __mul__(self, other: DimLike) -> "Dim":
        if self._numeric(other):
            return self.as_number() * other  # type: ignore[return-value, operator]
        o = Dim.of(other)
        terms: dict[Monomial, int] = {}
        for m1, c1 in self._terms.items():
            for m2, c2 in o._terms.items():
                m = tuple(sorted(m1 + m2))
                terms[m] = terms.get(m, 0) + c1 * c2
        return Dim(terms)

    __rmul__ = __mul__

    def exact_div(self, other: DimLike) -> "Dim | None":
        """``self / other`` when ``other`` is a single term that divides every term exactly, else None."""
        o = Dim.of(other)
        if len(o._terms) != 1:  # a sum divides only itself
            return Dim.const(1) if o == self and o._terms else None
        (dm, dc), = o._terms.items()
        if dc == 0:
            return None
        out: dict[Monomial, int] = {}
        for m, c in self._terms.items():
            rest = list(m)
            for name in dm:
                if name not in rest:
                    return None
                rest.remove(name)
            if c % dc:
                return None
            out[tuple(rest)] = out.get(tuple(rest), 0) + c // dc
        return Dim(out)

    def __floordiv__(self, other: DimLike) -> "Dim":
        q = self.exact_div(other)
        if q is None:
            raise ValueError(f"{self} is not a whole multiple of {Dim.of(other)}")
        return Dim.of(q)

    # -- comparisons and conversions ------------------------------------------------
    def resolved(self) -> "Dim":
        """This dim with the sizes the active trace has bound (names stay in shapes for display,
        but a bound ``F`` is 2 wherever code compares it or needs a number)."""
        if self.is_const:
            return self
        ctx = _context.current() if _context is not None else None
        if ctx is None:
            return self
        values = ctx.values()
        if not values or not any(n in values for m in self._terms for n in m):
            return self
        return self.substitute(values)

    def identical(self, other: "Dim") -> bool:
        """Equal as polynomials, whatever the trace has bound (``B`` and ``B``, not ``B`` and 32 with B = 32)."""
        return self is other or self._terms == other._terms

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bool):
            return False
        if isinstance(other, Dim) or hasattr(other, "__index__"):
            o = Dim.of(other)  # type: ignore[arg-type]
            if self._terms == o._terms:
                return True
            return self.resolved()._terms == o.resolved()._terms
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return self._hash

    def __index__(self) -> int:
        dim = self.resolved()
        if not dim.is_const:
            raise TypeError(f"dimension {self} has no size yet: bind {', '.join(sorted(dim.names))} to a number")
        return dim.value  # type: ignore[return-value]

    __int__ = __index__

    # Ordering is only decidable for constants; shape code uses it for clamping slices.
    def _cmp_value(self, other: DimLike, op: str) -> int:
        o = Dim.of(other)
        diff = (self - o).resolved()
        if not diff.is_const:
            raise TypeError(f"cannot decide {self} {op} {o} without sizes for {', '.join(sorted(diff.names))}")
        return diff.value  # type: ignore[return-value]

    def __lt__(self, other: DimLike) -> bool:
        return self._cmp_value(other, "<") < 0

    def __le__(self, other: DimLike) -> bool:
        return self._cmp_value(other, "<=") <= 0

    def __gt__(self, other: DimLike) -> bool:
        return self._cmp_value(other, ">") > 0

    def __ge__(self, other: DimLike) -> bool:
        return self._cmp_value(other, ">=") >= 0

    # -- text -----------------------------------------------------------------------
    def __str__(self) -> str:
        if not self._terms:
            return "0"
        parts = []
        # names first (by degree, then name), the constant last: "2*H+1", "T-1", "B*T"
        order = sorted(self._terms, key=lambda m: (-len(m) if m else 1, m))
        for m in order:
            c = self._terms[m]
            body = "*".join(m)
            if not m:
                text = str(abs(c))
            elif abs(c) == 1:
                text = body
            else:
                text = f"{abs(c)}*{body}"
            sign = "-" if c < 0 else "+"
            parts.append((sign, text))
        first_sign, first = parts[0]
        out = ("-" if first_sign == "-" else "") + first
        for sign, text in parts[1:]:
            out += sign + text
        return out

    def __repr__(self) -> str:
        # the core formats shapes as tuples in its messages ("got shape {tuple(x.shape)}"): a
        # symbolic shape should read as users write it, (B, T, 3), not (Dim(B), Dim(T), 3)
        return str(self)


def as_dim(value: DimLike) -> Dim:
    return Dim.of(value)


def shape_str(shape: Iterable[DimLike]) -> str:
    """``(B, T, 2)``: a shape as users write it."""
    items = [str(Dim.of(d)) for d in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def product(dims: Iterable[DimLike]) -> Dim:
    out = Dim.const(1)
    for d in dims:
        out = out * d
    return out
