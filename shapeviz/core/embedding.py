"""Embedding: integer token ids (B, T) to vectors (B, T, E) by a table lookup."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from shapeviz.core import initializers
from shapeviz.core.backend import empty
from shapeviz.core.layer import Layer, check_positive_int
from shapeviz.errors import ConfigError, InputError


class EmbeddingCache(NamedTuple):
    ids: Any  # (B, T) integer ids


def scatter_add_rows(table: np.ndarray, ids: Any, rows: Any) -> None:
    """``table[ids[i]] += rows[i]`` for every i, repeated ids accumulating: ``np.add.at``'s semantics.

    On real numpy arrays this is ``np.add.at`` on the flattened table with one flat index per
    entry (``id * E + column``): numpy's one-dimensional ``add.at`` path is 2-4x faster than its
    row-wise one (see ``benchmarks/embedding_scatter_add.py``) and adds in the same order, so
    the result is bit-identical. Anything else (the tracer's symbolic arrays, a non-contiguous
    table) goes through the row-wise ``np.add.at``, which numpy dispatches to ``__array_ufunc__``.

    Args:
        table: (V, E) accumulated in place.
        ids: (N,) integer ids in [0, V).
        rows: (N, E) rows to add.
    """
    if not (isinstance(ids, np.ndarray) and isinstance(rows, np.ndarray)
            and isinstance(table, np.ndarray) and table.flags.c_contiguous):
        np.add.at(table, ids, rows)  # (V, E)
        return
    E = table.shape[1]
    cells = (ids.astype(np.intp).reshape(-1, 1) * E + np.arange(E)).reshape(-1)  # (N*E,) flat table indices
    np.add.at(table.reshape(-1), cells, rows.reshape(-1))  # (V*E,) a view of the table


class Embedding(Layer):
    """Looks up row ``ids[b, t]`` of the ``embeddings (V, E)`` table (Keras's name and layout).

    Args:
        input_dim: vocabulary size V; ids must lie in ``[0, V)``.
        output_dim: embedding size E.
        mask_zero: id 0 is padding: ``compute_mask(ids)`` returns ``ids != 0`` for the layers
            after it (as Keras; the vocabulary then effectively starts at 1).
        embeddings_initializer: Keras's ``"uniform"`` (in [-0.05, 0.05]) by default.
        float_ids: also take float ids whose values are whole numbers (Keras's default Input dtype is
            float32, and Keras casts them); a fractional or non-finite value is an InputError.
        padding_idx: PyTorch's option: the row of this id gets no gradient (it stays what it is,
            zeros in a fresh torch module); None (default) for none. It makes no mask.
    """

    kind = "embedding"

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False,
                 embeddings_initializer: str = "uniform", name: str | None = None, dtype: Any = None,
                 padding_idx: int | None = None, float_ids: bool = False) -> None:
        super().__init__(name, dtype)
        self.float_ids = bool(float_ids)
        owner = f"Embedding {self.name!r}"
        self.input_dim = check_positive_int(input_dim, "input_dim", owner)
        if padding_idx is not None and (isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer))
                                        or not 0 <= padding_idx < self.input_dim):
            raise ConfigError(f"{owner}: received an invalid value for `padding_idx`, expected None or an id in "
                              f"[0, {self.input_dim}), got {padding_idx!r}")
        self.padding_idx = None if padding_idx is None else int(padding_idx)
        self.output_dim = check_positive_int(output_dim, "output_dim", owner)
        self.mask_zero = bool(mask_zero)
        self._init_name = embeddings_initializer
        self.embeddings_initializer = initializers.get(embeddings_initializer, "embeddings_initializer",
                                                       f"Embedding {self.name!r}")

    def make_params(self, input_shape: tuple, rng: np.random.Generator) -> dict[str, np.ndarray]:
        shape = (self.input_dim, self.output_dim)
        return {"embeddings": self.embeddings_initializer(rng, shape, self.dtype)}

    # -- checks ---------------------------------------------------------------------
    def check_ids(self, x: Any) -> None:
        """Rank and dtype of the ids: what every run, concrete or symbolic, can check."""
        if len(x.shape) != 2:
            raise InputError(
                f"layer {self.name!r} ({self.kind}) expects integer ids of rank 2 (B, T), "
                f"got rank {len(x.shape)} with shape {tuple(x.shape)}"
            )
        if not np.issubdtype(x.dtype, np.integer) and not (self.float_ids and np.issubdtype(x.dtype, np.floating)):
            raise InputError(
                f"layer {self.name!r} ({self.kind}) expects integer token ids, got dtype {x.dtype} "
                f"with shape {tuple(x.shape)}: an Embedding takes ids in [0, {self.input_dim}), not feature "
                f"vectors (cast whole-number floats with ids.astype(int), or feed float features to a "
                f"recurrent or Dense layer instead)"
            )

    def validate_ids(self, x: np.ndarray) -> None:
        """Value check, on concrete arrays only: every id must lie in ``[0, V)``.

        A symbolic run has no values, so ``forward`` calls this only for ``np.ndarray`` inputs."""
        if x.size == 0:
            return
        if np.issubdtype(x.dtype, np.floating):
            bad = np.flatnonzero(~np.isfinite(x) | (x != np.round(x)))
            if bad.size:
                where = np.unravel_index(bad[0], x.shape)
                raise InputError(
                    f"layer {self.name!r} ({self.kind}) takes whole-number float ids (as Keras casts them), "
                    f"got {float(x[where])!r} at {tuple(int(i) for i in where)}"
                    + (f" and {bad.size - 1} more fractional or non-finite values" if bad.size > 1 else ""))
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= self.input_dim:
            raise InputError(
                f"layer {self.name!r} ({self.kind}) expects ids in [0, {self.input_dim}) "
                f"(input_dim={self.input_dim}), got ids from {lo} to {hi}: "
                + ("negative ids are not allowed" if lo < 0 else
                   f"input_dim must be at least {hi + 1} for this vocabulary")
            )

    # -- computation ----------------------------------------------------------------
    def forward(self, x: Any, *, mask: Any = None, training: bool = False,
                rng: np.random.Generator | None = None) -> tuple[Any, EmbeddingCache]:
        """Args: x: (B, T) integer ids; mask: ignored (the mask comes from the ids, see
        ``compute_mask``). Returns y: (B, T, E) in the layer's dtype."""
        self.check_ids(x)
        if isinstance(x, np.ndarray):
            self.validate_ids(x)
            if self.float_ids and not np.issubdtype(x.dtype, np.integer):
                x = x.astype(np.int64)  # (B, T) whole-number floats as ids, as Keras casts them
        self.ensure_built(x, rng)
        table = self.params["embeddings"]  # (V, E)
        # np.take dispatches only on its table and ``out``, never on the ids: an ``out`` made
        # like the ids lets a symbolic x take over the lookup
        y = empty((x.shape[0], x.shape[1], self.output_dim), like=x, dtype=table.dtype)  # (B, T, E)
        np.take(table, x, axis=0, out=y)  # (B, T, E)
        return y, EmbeddingCache(x)

    def backward(self, dy: Any, cache: EmbeddingCache) -> None:
        """Adds ``dy`` (B, T, E) into the rows of ``grads["embeddings"]`` named by the ids.

        Returns None: integer ids have no gradient."""
        ids = cache.ids  # (B, T)
        E = self.output_dim
        if isinstance(dy, np.ndarray) and not dy.flags.c_contiguous and dy.transpose(1, 0, 2).flags.c_contiguous:
            # a recurrent layer's time-major gradient: flatten it (T, B) first, without a copy
            ids, dy = ids.T, dy.transpose(1, 0, 2)  # (T, B), (T, B, E)
        if self.padding_idx is not None:  # torch's padding_idx: that row gets no gradient
            dy = dy * (ids != self.padding_idx)[:, :, None]  # (B, T, E)
        scatter_add_rows(self.grads["embeddings"], ids.reshape(-1), dy.reshape(-1, E))  # (V, E)
        return None

    def compute_mask(self, x: Any) -> Any:
        """The mask of the output from the ids: ``x != 0`` (B, T) with mask_zero, else None."""
        if not self.mask_zero:
            return None
        return x != 0  # (B, T)

    def config(self) -> dict[str, Any]:
        extra = {} if self.padding_idx is None else {"padding_idx": self.padding_idx}
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                "embeddings_initializer": self._init_name, **extra, "name": self.name,
                **({"float_ids": True} if self.float_ids else {})}
