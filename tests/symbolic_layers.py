"""Test helper: run one layer on symbolic arrays and on numpy arrays of the bound sizes, and compare.

``compare_symbolic(layer, "(B, T, 3)", {"B": 2, "T": 5}, mask="(B, T)")`` runs the layer's real
forward, backward and ``output_mask`` twice — on SymArrays whose names have no sizes, and on random
numpy arrays of the given sizes — and asserts that every shape and dtype the symbolic run gives,
with the sizes put in, is the real one: the output, each input gradient, the output mask. A
multi-input layer takes a list of declarations (and a list of masks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapeviz.tracing.context import TraceContext, activate
from shapeviz.tracing.dims import Dim
from shapeviz.tracing.symarray import SymArray
from shapeviz.tracing.tracer import symbolic_input


def bind(shape: tuple, sizes: dict[str, int]) -> tuple:
    out = []
    for d in shape:
        dim = Dim.of(d).substitute(sizes)
        assert dim.is_const, f"{d} has names without sizes in {sizes}"
        out.append(dim.value)
    return tuple(out)


def _real(decl: str, sizes: dict, rng: np.random.Generator, dtype: Any, name: str) -> tuple[SymArray, np.ndarray]:
    sym = symbolic_input(decl, dtype, name=name)
    shape = bind(sym.shape, sizes)
    if np.dtype(dtype) == np.bool_:
        real = rng.random(shape) > 0.3
    elif np.dtype(dtype).kind in "iu":
        real = rng.integers(0, 5, shape).astype(dtype)
    else:
        real = rng.normal(size=shape).astype(dtype)
    return sym, real


def _flat(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def compare_symbolic(layer: Any, decl: Any, sizes: dict[str, int], *, mask: Any = None, dtype: Any = np.float64,
                     training: bool = False, bound: tuple = ("F", "H")) -> dict[str, Any]:
    """Assert the symbolic run of ``layer`` gives the real run's shapes and dtypes; return both runs.

    The names in ``bound`` get their sizes in the trace context the symbolic run happens in (feature
    sizes are known in a real trace: weights have them); the others (B, T) stay free."""
    ctx = TraceContext()
    for n in bound:
        if n in sizes:
            ctx.bind(n, sizes[n], "the test")
    with activate(ctx):
        return _compare(layer, decl, sizes, mask, dtype, training)


def _compare(layer: Any, decl: Any, sizes: dict[str, int], mask: Any, dtype: Any, training: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    multi = isinstance(decl, list)
    decls = decl if multi else [decl]
    pairs = [_real(d, sizes, rng, dtype, f"x{i}") for i, d in enumerate(decls)]
    masks = mask if isinstance(mask, list) else [mask]
    mpairs = [None if m is None else _real(m, sizes, rng, np.bool_, f"mask{i}") for i, m in enumerate(masks)]
    if mpairs and mpairs[0] is not None and not multi:
        mpairs[0][1][:, 0] = True  # every row keeps a step
    sx = [p[0] for p in pairs] if multi else pairs[0][0]
    rx = [p[1] for p in pairs] if multi else pairs[0][1]
    if mask is None:
        smask = rmask = None
    elif multi:
        smask = [None if p is None else p[0] for p in mpairs]
        rmask = [None if p is None else p[1] for p in mpairs]
    else:
        smask, rmask = mpairs[0][0], mpairs[0][1]

    y, cache = layer.forward(rx, mask=rmask, training=training, rng=np.random.default_rng(1))
    dx = layer.backward(rng.normal(size=y.shape).astype(y.dtype), cache)
    ys, caches = layer.forward(sx, mask=smask, training=training, rng=np.random.default_rng(1))
    assert isinstance(ys, SymArray), f"the symbolic run gave {type(ys).__name__}"
    assert bind(ys.shape, sizes) == y.shape, f"output: symbolic {ys.shape}, real {y.shape}"
    assert ys.dtype == y.dtype, f"output dtype: symbolic {ys.dtype}, real {y.dtype}"
    dxs = layer.backward(SymArray(ys.shape, ys.dtype, name="dy"), caches)
    for i, (a, b) in enumerate(zip(_flat(dxs), _flat(dx), strict=True)):
        assert bind(a.shape, sizes) == b.shape, f"input gradient {i}: symbolic {a.shape}, real {b.shape}"
        assert a.dtype == b.dtype, f"input gradient {i} dtype: symbolic {a.dtype}, real {b.dtype}"
    m_real = layer.output_mask(rmask)
    m_sym = layer.output_mask(smask)
    assert (m_real is None) == (m_sym is None)
    if m_real is not None:
        assert bind(m_sym.shape, sizes) == m_real.shape, f"mask: symbolic {m_sym.shape}, real {m_real.shape}"
        assert m_sym.dtype == m_real.dtype == np.bool_
    return {"y": y, "ys": ys, "dx": dx, "dxs": dxs, "mask": m_real, "mask_sym": m_sym}
