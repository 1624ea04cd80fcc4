"""Keras's IMDB reviews: the ``imdb.npz`` format, ``load_data``, ``pad_sequences`` and a synthetic corpus.

Past 400 lines for one reason: Keras's file format, its loader's options (maxlen, skip_top,
oov_char, ...) and the synthetic corpus that stands in for the download are one data set.
"""

from __future__ import annotations

import gc
import itertools
import os
import pickle
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from shapeviz.errors import ConfigError, InputError

KEYS = ("x_train", "y_train", "x_test", "y_test")

# A raw split is (x, y): x a 1-D object array of int lists, y a 1-D array of 0/1 labels.
Split = tuple[np.ndarray, np.ndarray]
Corpus = tuple[Split, Split]


# -- ragged helpers: (flat ids, lengths) <-> object array of lists ---------------------------
def _object_array(seqs: Sequence[Any]) -> np.ndarray:
    """A 1-D object array holding ``seqs`` as they are (``np.array`` would build a 2-D array
    when all lists happen to have the same length)."""
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: creating (or unpickling) tens of thousands of lists
    triggers collections that scan all of them again and again, doubling the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _to_lists(flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Split ``flat`` (total,) into a (N,) object array of python int lists of ``lengths`` (N,)."""
    ends = np.cumsum(lengths).tolist()
    starts = [0] + ends[:-1]
    with _no_gc():
        values = flat.tolist()
        return _object_array([values[a:b] for a, b in zip(starts, ends)])


def _check_split(x: Any, y: Any, split: str, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Check the kinds of one raw split: ``x`` a 1-D object array of lists, ``y`` matching 0/1 labels.

    Returns:
        x: (N,) object array; y: (N,) labels.
    """
    xs, ys = f"{where}x_{split}", f"{where}y_{split}"
    if isinstance(x, (list, tuple)):
        x = _object_array(list(x))
    if not isinstance(x, np.ndarray) or x.ndim != 1 or x.dtype != object:
        got = (f"an array of shape {x.shape} and dtype {x.dtype}" if isinstance(x, np.ndarray)
               else type(x).__name__)
        raise InputError(f"{xs} must be a 1-D object array of word-id lists (Keras's imdb.npz format), got {got}")
    for i, s in enumerate(x):
        if isinstance(s, np.ndarray):
            ok = s.ndim == 1 and (s.dtype.kind in "iu" or s.size == 0)
        else:
            # the first id stands for the list: checking all of them would cost a pass in python
            ok = isinstance(s, (list, tuple)) and (not s or isinstance(s[0], (int, np.integer)))
        if not ok:
            got = (f"an array of shape {s.shape} and dtype {s.dtype}" if isinstance(s, np.ndarray)
                   else f"{type(s).__name__} {s[:3]!r}..." if isinstance(s, (list, tuple)) else type(s).__name__)
            raise InputError(f"{xs}[{i}] must be a list of integer word ids, got {got}")
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iub" or len(y) != len(x):
        raise InputError(
            f"{ys} must be a 1-D integer array of {len(x)} labels (one per review in {xs}), "
            f"got shape {y.shape} and dtype {y.dtype}"
        )
    if y.size and not np.isin(y, (0, 1)).all():
        raise InputError(f"{ys} must hold 0/1 sentiment labels, got values {np.unique(y)[:10].tolist()}")
    return x, y


def _flatten(x: np.ndarray, split: str, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The ids of a checked ``x`` (N,) as one flat array, checking they are non-negative.

    Returns:
        flat: (total,) int64 word ids; lengths: (N,) int64.
    """
    lengths = np.fromiter((len(s) for s in x), dtype=np.int64, count=len(x))  # (N,)
    total = int(lengths.sum())
    try:
        flat = np.fromiter(itertools.chain.from_iterable(x), dtype=np.int64, count=total)  # (total,)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{where}x_{split} must hold integer word ids: {exc}") from None
    if total and flat.min() < 0:
        first = int(np.argmax(flat < 0))
        seq = int(np.searchsorted(np.cumsum(lengths), first, side="right"))
        raise InputError(f"{where}x_{split}[{seq}] must hold non-negative word ids, got {flat[first]}")
    return flat, lengths


# -- the file ---------------------------------------------------------------------------------
def read_imdb_npz(path: str | os.PathLike, *, check_ids: bool = True) -> Corpus:
    """Read a file in Keras's ``imdb.npz`` format, checking every array.

    The file holds ``x_train``, ``y_train``, ``x_test``, ``y_test``; ``x_*`` are object arrays of
    python int lists, which numpy stores pickled, so this reads with ``allow_pickle=True``.
    Unpickling can run code: only read files you trust — your own copy of Keras's
    ``imdb.npz`` or one written by :func:`save_imdb_npz`.

    Args:
        path: the file.
        check_ids: also check every id is a non-negative integer (:func:`load_data` leaves that
            to :func:`prepare`, which reads every id anyway).

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as stored (raw word ids, 1 = most frequent).

    Raises:
        InputError: the file is missing, not an ``.npz`` archive, lacks a key, or an array is
            not of the expected kind.
    """
    where = f"{os.fspath(path)}: "
    try:
        archive = np.load(path, allow_pickle=True)
    except FileNotFoundError:
        raise InputError(f"{where}no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise InputError(f"{where}not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError(f"{where}expected an .npz archive with arrays {list(KEYS)}, got a single .npy array")
    with archive:
        missing = [k for k in KEYS if k not in archive.files]
        if missing:
            raise InputError(
                f"{where}not in Keras's imdb.npz format: missing {missing} (found {sorted(archive.files)}, "
                f"expected {list(KEYS)})"
            )
        try:
            with _no_gc():
                arrays = {k: archive[k] for k in KEYS}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, AttributeError,
                ImportError) as exc:
            raise InputError(f"{where}cannot read its arrays ({exc})") from None
    for split in ("train", "test"):
        x, _ = _check_split(arrays[f"x_{split}"], arrays[f"y_{split}"], split, where)
        if check_ids:
            _flatten(x, split, where)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def save_imdb_npz(path: str | os.PathLike, data: Corpus) -> Path:
    """Write ``((x_train, y_train), (x_test, y_test))`` in Keras's ``imdb.npz`` format.

    Args:
        path: where to write; ``.npz`` is appended when the name lacks it, as numpy does.
        data: raw splits, ``x_*`` sequences of word-id lists, ``y_*`` (N,) 0/1 labels.

    Returns:
        The path written.
    """
    (x_train, y_train), (x_test, y_test) = data
    arrays: dict[str, np.ndarray] = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = _check_split(x, y, split)
        _flatten(x, split)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    out = Path(path)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    np.savez(out, **arrays)
    return out


# -- keras.datasets.imdb.load_data ------------------------------------------------------------
def prepare(data: Corpus, num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
            seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2,
            index_from: int = 3) -> Corpus:
    """What ``keras.datasets.imdb.load_data`` does to the arrays it reads, step for step.

    1. Shuffle each split with ``np.random.RandomState(seed)`` (train, then test, one generator).
    2. Offset every id by ``index_from`` and prepend ``start_char`` (when not None), leaving
       0 for padding, 1 for the start and 2 for out-of-vocabulary words.
    3. With ``maxlen``, drop reviews whose length (start char included) is not below ``maxlen``.
    4. Replace ids outside ``[skip_top, num_words)`` by ``oov_char`` (or drop them when it is
       None). Without ``num_words`` Keras takes the largest id, which the strict ``<`` then maps
       to ``oov_char`` too; that quirk is kept.

    The work is vectorised over one flat id array, so 50,000 reviews take well under a second.

    Args:
        data: ``((x_train, y_train), (x_test, y_test))`` raw splits, e.g. from :func:`read_imdb_npz`.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: 1-D object arrays of int lists and labels.

    Raises:
        InputError: an array is not of the expected kind, or ``maxlen`` leaves a split empty.
    """
    index_from = index_from or 0
    rs = np.random.RandomState(seed)  # Keras's generator, so orders match Keras's for the same file
    splits = []
    for split, (x, y) in zip(("train", "test"), data):
        x, y = _check_split(x, y, split)
        order = np.arange(len(x))
        rs.shuffle(order)
        labels = y[order]  # (N,)
        flat, lengths = _flatten(x[order], split)  # (total,), (N,)
        flat = flat + index_from  # (total,)
        if start_char is not None:
            starts = np.cumsum(lengths) - lengths  # (N,) where each review begins in flat
            flat = np.insert(flat, starts, start_char)  # (total + N,)
            lengths = lengths + 1  # (N,)
        if maxlen:
            keep = lengths < maxlen  # (N,)
            flat = flat[np.repeat(keep, lengths)]
            lengths, labels = lengths[keep], labels[keep]
            if not keep.any():
                raise InputError(
                    f"After filtering for sequences shorter than maxlen={maxlen}, no {split} sequence was kept. "
                    "Increase maxlen."
                )
        splits.append((flat, lengths, labels))
    if not num_words:
        num_words = max((int(f.max()) for f, _, _ in splits if f.size), default=0)
    out = []
    for flat, lengths, labels in splits:
        inside = (flat >= skip_top) & (flat < num_words)  # (total,)
        if oov_char is not None:
            flat = np.where(inside, flat, oov_char)  # (total,)
        else:
            seq_of = np.repeat(np.arange(len(lengths)), lengths)  # (total,) review index of each id
            lengths = np.bincount(seq_of[inside], minlength=len(lengths))  # (N,)
            flat = flat[inside]
        out.append((_to_lists(flat, lengths), labels))
    return out[0], out[1]


def load_data(path: str | os.PathLike, num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, seed: int = 113, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3) -> Corpus:
    """``keras.datasets.imdb.load_data`` on a local file: :func:`read_imdb_npz` then :func:`prepare`.

    Args:
        path: a file in Keras's ``imdb.npz`` format (read with pickling allowed; see
            :func:`read_imdb_npz`).
        num_words: keep the ``num_words`` most frequent ids (after the offset); others become ``oov_char``.
        skip_top: ids below this become ``oov_char`` too.
        maxlen: drop reviews not shorter than this (Keras filters here; truncation is
            :func:`pad_sequences`'s job).
        seed: shuffling seed (Keras's default 113).
        start_char, oov_char, index_from: as in Keras.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: object arrays of int lists, label arrays.
    """
    return prepare(read_imdb_npz(path, check_ids=False), num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                   start_char=start_char, oov_char=oov_char, index_from=index_from)


# -- keras.utils.pad_sequences ----------------------------------------------------------------
def pad_sequences(sequences: Sequence[Any], maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre", value: float = 0.0) -> np.ndarray:
    """Keras's ``pad_sequences``: a ragged list of sequences as one (N, maxlen) array.

    Sequences longer than ``maxlen`` lose values from the start (``truncating="pre"``, the
    default) or the end (``"post"``); shorter ones are filled with ``value`` before
    (``padding="pre"``, the default) or after (``"post"``). Without ``maxlen`` the longest
    sequence sets it. Elements may themselves be arrays (all of one shape ``S``), as in Keras.

    Args:
        sequences: N sequences (lists or arrays).
        maxlen: the padded length L, or None for the longest.
        dtype: of the result (int32 by default, as in Keras).
        padding: ``"pre"`` or ``"post"``.
        truncating: ``"pre"`` or ``"post"``.
        value: the fill value.

    Returns:
        (N, L) or (N, L, *S) array.
    """
    for what, got in (("padding", padding), ("truncating", truncating)):
        if got not in ("pre", "post"):
            raise ConfigError(f"pad_sequences: `{what}` must be 'pre' or 'post', got {got!r}")
    if not hasattr(sequences, "__len__"):
        raise InputError(f"pad_sequences: `sequences` must be a list of sequences, got {type(sequences).__name__}")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ConfigError(f"pad_sequences: `maxlen` must be a non-negative integer or None, got {maxlen!r}")
    lengths = []
    sample_shape: tuple[int, ...] = ()
    found = False
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise InputError(f"pad_sequences: `sequences` must be a list of sequences, item {i} is {s!r}")
        lengths.append(len(s))
        if not found and len(s):
            sample_shape = np.asarray(s).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    x = np.full((len(lengths), maxlen) + sample_shape, value, dtype=dtype)  # (N, L, *S)
    if maxlen == 0:
        return x  # Keras's s[-0:] would keep everything here and fail; nothing fits in zero steps
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)  # (l, *S)
        if trunc.shape[1:] != sample_shape:
            raise InputError(
                f"pad_sequences: sequence {i} has elements of shape {trunc.shape[1:]}, "
                f"expected {sample_shape} like the first non-empty sequence"
            )
        if padding == "post":
            x[i, :len(trunc)] = trunc
        else:
            x[i, -len(trunc):] = trunc
    return x


# -- a synthetic corpus in the same format ----------------------------------------------------
def _lognormal_lengths(rng: np.random.Generator, n: int, median: float, sigma: float,
                       low: int, high: int) -> np.ndarray:
    return np.clip(np.rint(rng.lognormal(np.log(median), sigma, size=n)), low, high).astype(np.int64)  # (n,)


def synthetic_imdb(n_train: int = 25000, n_test: int = 25000, num_words: int = 20000, seed: int | None = 0, *,
                   sentiment_rate: float = 0.1, agreement: float = 0.8, n_sentiment_words: int = 50,
                   median_length: float = 175.0, length_sigma: float = 0.8,
                   min_length: int = 10, max_length: int = 2500) -> Corpus:
    """An IMDB-shaped corpus in the raw ``imdb.npz`` format, for training without the real file.

    - Words follow Zipf's law over ``num_words`` ids (``P(k) = log((k+1)/k) / log(V+1)``, drawn by
      inverting a log-uniform), and at the end ids are renumbered by their frequency in the
      corpus, so id 1 is the most frequent word, as in Keras's file.
    - Lengths are log-normal with median ``median_length`` and ``length_sigma`` (IMDB: median
      174, mean about 235 words), clipped to ``[min_length, max_length]``.
    - Sentiment: ``n_sentiment_words`` positive and as many negative ids are picked among
      moderately frequent words (ranks from about 0.15% to 15% of the vocabulary, 30-3000 for
      20,000 words). A fraction ``sentiment_rate`` of each review's words are sentiment words;
      each agrees with the review's label with probability ``agreement``.
    - Labels are balanced in each split (0 negative, 1 positive), in random order.

    The result goes through :func:`prepare` (``load_data``'s processing) and
    :func:`pad_sequences` exactly like the real file. All of it is vectorised: 50,000 reviews
    (12 million words) take under two seconds, most of it building the python lists.

    The defaults make the sentiment plain enough that Keras's imdb_lstm model learns it from a
    few thousand reviews in one epoch (a naive-Bayes word count on the last 80 words scores
    about 85% with 2,000 training reviews); raise ``agreement`` or ``sentiment_rate`` for an
    easier corpus, lower them for a harder one.

    Args:
        n_train: reviews in the train split.
        n_test: reviews in the test split.
        num_words: vocabulary size V; raw ids are 1..V.
        seed: seed of the generator.
        sentiment_rate: fraction of words replaced by sentiment words.
        agreement: probability that a sentiment word agrees with the review's label.
        n_sentiment_words: size of each of the positive and negative word sets.
        median_length, length_sigma, min_length, max_length: the review-length distribution.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: 1-D object arrays of int lists, int64 labels.
    """
    for what, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"synthetic_imdb: `{what}` must be a positive integer, got {n!r}")
    if isinstance(num_words, bool) or not isinstance(num_words, (int, np.integer)) or num_words < 100:
        raise ConfigError(f"synthetic_imdb: `num_words` must be an integer >= 100, got {num_words!r}")
    if not 0.0 <= sentiment_rate <= 1.0 or not 0.0 <= agreement <= 1.0:
        raise ConfigError(
            f"synthetic_imdb: `sentiment_rate` and `agreement` must be in [0, 1], got {sentiment_rate!r}, {agreement!r}"
        )
    if isinstance(n_sentiment_words, bool) or not isinstance(n_sentiment_words, (int, np.integer)) \
            or n_sentiment_words < 1:
        raise ConfigError(f"synthetic_imdb: `n_sentiment_words` must be a positive integer, got {n_sentiment_words!r}")
    if not 1 <= min_length <= max_length:
        raise ConfigError(f"synthetic_imdb: expected 1 <= min_length <= max_length, got {min_length}, {max_length}")
    rng = np.random.default_rng(seed)
    V = int(num_words)
    labels = [rng.permutation(np.arange(n) % 2) for n in (n_train, n_test)]  # balanced, shuffled
    y = np.concatenate(labels)  # (N,)
    lengths = _lognormal_lengths(rng, len(y), median_length, length_sigma, min_length, max_length)  # (N,)
    total = int(lengths.sum())
    ids = np.floor(np.exp(rng.random(total) * np.log(V + 1.0))).astype(np.int64)  # (total,) Zipf in [1, V]
    np.clip(ids, 1, V, out=ids)  # guards exp's rounding at the top

    lo, hi = max(1, int(0.0015 * V)), max(2, int(0.15 * V))
    n_sent = max(1, min(int(n_sentiment_words), (hi - lo) // 2))
    lexicon = lo + rng.choice(hi - lo, size=2 * n_sent, replace=False)  # (2S,) distinct ids
    positive, negative = lexicon[:n_sent], lexicon[n_sent:]  # (S,) each
    hit = np.flatnonzero(rng.random(total) < sentiment_rate)  # (K,) positions of sentiment words
    polarity = np.repeat(y, lengths)[hit]  # (K,) the review's label at each
    polarity = np.where(rng.random(hit.size) < agreement, polarity, 1 - polarity)  # (K,)
    pick = rng.integers(0, n_sent, size=hit.size)  # (K,)
    ids[hit] = np.where(polarity == 1, positive[pick], negative[pick])  # (K,)

    counts = np.bincount(ids, minlength=V + 1)[1:]  # (V,) frequency of raw ids 1..V
    by_freq = np.argsort(-counts, kind="stable") + 1  # (V,) old ids, most frequent first
    rank = np.empty(V + 1, dtype=np.int64)
    rank[by_freq] = np.arange(1, V + 1)  # old id -> frequency rank
    ids = rank[ids]  # (total,)

    split = int(lengths[:n_train].sum())
    x_train = _to_lists(ids[:split], lengths[:n_train])
    x_test = _to_lists(ids[split:], lengths[n_train:])
    return (x_train, labels[0].astype(np.int64)), (x_test, labels[1].astype(np.int64))
