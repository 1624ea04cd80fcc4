"""Datasets: Lasagne's addition task, Keras's imdb.npz loader, pad_sequences, the synthetic corpus."""

import numpy as np
import pytest

from shapeviz.datasets import addition
from shapeviz.datasets.addition import gen_data
from shapeviz.datasets.imdb import (
    load_data,
    pad_sequences,
    prepare,
    read_imdb_npz,
    save_imdb_npz,
    synthetic_imdb,
)
from shapeviz.errors import ConfigError, InputError


# -- addition -----------------------------------------------------------------------------------
def test_addition_shapes_and_dtypes():
    x, y, mask = gen_data(rng=0)
    assert x.shape == (100, addition.MAX_LENGTH, 2) and x.dtype == np.float32
    assert y.shape == (100,) and y.dtype == np.float32
    assert mask.shape == (100, addition.MAX_LENGTH) and mask.dtype == bool
    x64, _, _ = gen_data(7, 20, 30, rng=1, dtype="float64")
    assert x64.shape == (7, 30, 2) and x64.dtype == np.float64


def test_addition_raw_pairs_follow_lasagne():
    x, y, mask = gen_data(500, 50, 55, rng=3, center=False, dtype="float64")
    lengths = mask.sum(axis=1)
    # lengths in [min_length, max_length), as numpy's randint in Lasagne; the mask is a prefix
    assert lengths.min() >= 50 and lengths.max() <= 54
    assert set(lengths.tolist()) == {50, 51, 52, 53, 54}
    np.testing.assert_array_equal(mask, np.arange(55)[None, :] < lengths[:, None])
    a, b = x[..., 0], x[..., 1]
    assert ((a >= 0) & (a < 1)).all()
    assert (a[~mask] == 0).all() and (b[~mask] == 0).all()  # padding is zero
    assert (b.sum(axis=1) == 2).all() and np.isin(b, (0, 1)).all()  # exactly two markers
    for n in range(len(x)):
        first, second = np.flatnonzero(b[n])
        L = lengths[n]
        assert 0 <= first < L // 10 and L // 2 <= second < L
    np.testing.assert_allclose(y, (a * b).sum(axis=1))  # the target is the sum of the marked a's


def test_addition_centring_is_lasagnes():
    raw_x, raw_y, raw_mask = gen_data(50, rng=np.random.default_rng(11), center=False, dtype="float64")
    x, y, mask = gen_data(50, rng=np.random.default_rng(11), dtype="float64")
    np.testing.assert_array_equal(mask, raw_mask)
    np.testing.assert_allclose(x, raw_x - raw_x.reshape(-1, 2).mean(axis=0))
    np.testing.assert_allclose(y, raw_y - raw_y.mean())
    assert abs(y.mean()) < 1e-12


def test_addition_is_reproducible_and_checks_options():
    a = gen_data(rng=5)
    b = gen_data(rng=5)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ConfigError, match="min_length < max_length"):
        gen_data(10, 55, 50)
    with pytest.raises(ConfigError, match="10 <= min_length"):
        gen_data(10, 5, 8)
    with pytest.raises(ConfigError, match="n_batch"):
        gen_data(0)


# -- pad_sequences --------------------------------------------------------------------------------
SEQS = [[1, 2, 3, 4, 5], [6, 7], [], [8, 9, 10]]


@pytest.mark.parametrize(
    "padding, truncating, expected",
    [
        ("pre", "pre", [[2, 3, 4, 5], [0, 0, 6, 7], [0, 0, 0, 0], [0, 8, 9, 10]]),
        ("post", "pre", [[2, 3, 4, 5], [6, 7, 0, 0], [0, 0, 0, 0], [8, 9, 10, 0]]),
        ("pre", "post", [[1, 2, 3, 4], [0, 0, 6, 7], [0, 0, 0, 0], [0, 8, 9, 10]]),
        ("post", "post", [[1, 2, 3, 4], [6, 7, 0, 0], [0, 0, 0, 0], [8, 9, 10, 0]]),
    ],
)
def test_pad_sequences_padding_and_truncation(padding, truncating, expected):
    out = pad_sequences(SEQS, maxlen=4, padding=padding, truncating=truncating)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


def test_pad_sequences_defaults_value_dtype_and_vectors():
    np.testing.assert_array_equal(
        pad_sequences([[1], [2, 3, 4]]), [[0, 0, 1], [2, 3, 4]]  # maxlen = the longest
    )
    out = pad_sequences([[1.5], [2.5, 3.5]], maxlen=3, dtype="float32", value=-1.0)
    np.testing.assert_array_equal(out, [[-1, -1, 1.5], [-1, 2.5, 3.5]])
    assert out.dtype == np.float32
    vec = pad_sequences([[[1, 2]], [[3, 4], [5, 6], [7, 8]]], maxlen=2)
    assert vec.shape == (2, 2, 2)
    np.testing.assert_array_equal(vec, [[[0, 0], [1, 2]], [[5, 6], [7, 8]]])
    assert pad_sequences(np.array([[1, 2], [3]], dtype=object), maxlen=0).shape == (2, 0)
    assert pad_sequences([], maxlen=None).shape == (0, 0)


def test_pad_sequences_errors():
    with pytest.raises(ConfigError, match="`padding` must be 'pre' or 'post', got 'middle'"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ConfigError, match="`truncating`"):
        pad_sequences(SEQS, truncating="both")
    with pytest.raises(ConfigError, match="maxlen"):
        pad_sequences(SEQS, maxlen=-1)
    with pytest.raises(InputError, match=r"sequence 1 has elements of shape \(3,\), expected \(2,\)"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])
    with pytest.raises(InputError, match="item 1"):
        pad_sequences([[1], 5])


# -- the imdb.npz loader ----------------------------------------------------------------------------
def keras_load_data(data, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
                    index_from=3):
    """``keras.datasets.imdb.load_data`` after its ``np.load``, transcribed line for line (the oracle)."""
    (x_train, labels_train), (x_test, labels_test) = data
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    if maxlen:
        def remove_long_seq(maxlen, seq, label):
            kept = [(x, y) for x, y in zip(seq, label) if len(x) < maxlen]
            return [x for x, _ in kept], [y for _, y in kept]
        x_train, labels_train = remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = remove_long_seq(maxlen, x_test, labels_test)
    xs = list(x_train) + list(x_test)
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    idx = len(x_train)
    return (xs[:idx], labels[:idx]), (xs[idx:], labels[idx:])


def small_corpus():
    return synthetic_imdb(60, 40, num_words=300, seed=4, median_length=12, min_length=3, max_length=40)


def as_lists(x):
    return [list(s) for s in x]


def test_loader_on_a_written_file_hand_checked(tmp_path):
    raw = (([[1, 5, 10], [7]], np.array([1, 0])), ([[2, 2]], np.array([0])))
    path = save_imdb_npz(tmp_path / "imdb", raw)
    assert path.name == "imdb.npz" and path.exists()
    (x_train, y_train), (x_test, y_test) = load_data(path, num_words=10)
    order = {tuple(s): lab for s, lab in zip(as_lists(x_train), y_train.tolist())}
    # ids offset by 3, start char 1, ids >= num_words -> oov char 2
    assert order == {(1, 4, 8, 2): 1, (1, 2): 0}  # 10+3 and 7+3 are >= 10
    assert as_lists(x_test) == [[1, 5, 5]] and y_test.tolist() == [0]
    (x_train, _), _ = load_data(path, num_words=100, skip_top=5)
    assert sorted(as_lists(x_train)) == [[2, 2, 8, 13], [2, 10]]  # below skip_top -> oov, start char too
    (x_train, _), (x_test, _) = load_data(path, num_words=100, maxlen=4)
    assert as_lists(x_train) == [[1, 10]] and as_lists(x_test) == [[1, 5, 5]]  # [1, 4, 8, 13] is not < 4
    (x_train, _), _ = load_data(path, num_words=100, start_char=None, oov_char=None, index_from=0)
    assert sorted(as_lists(x_train)) == [[1, 5, 10], [7]]
    (x_train, _), _ = load_data(path, num_words=6, start_char=None, oov_char=None, index_from=0)
    assert sorted(as_lists(x_train)) == [[], [1, 5]]  # out-of-range ids dropped
    with pytest.raises(InputError, match="no train sequence was kept"):
        load_data(path, maxlen=2)


@pytest.mark.parametrize("options", [
    {},
    {"num_words": 100},
    {"num_words": 150, "skip_top": 10, "maxlen": 15},
    {"num_words": 50, "oov_char": None},
    {"start_char": None, "index_from": 0, "seed": 7},
    {"num_words": 200, "start_char": 9, "oov_char": 3, "index_from": 5},
])
def test_loader_matches_keras_line_for_line(tmp_path, options):
    raw = small_corpus()
    path = save_imdb_npz(tmp_path / "imdb.npz", raw)
    (x_train, y_train), (x_test, y_test) = load_data(path, **options)
    (k_train, ky_train), (k_test, ky_test) = keras_load_data(read_imdb_npz(path), **options)
    assert x_train.dtype == object and x_train.ndim == 1
    assert as_lists(x_train) == k_train and as_lists(x_test) == k_test
    np.testing.assert_array_equal(y_train, ky_train)
    np.testing.assert_array_equal(y_test, ky_test)


def test_loaded_and_padded_data_feed_a_model(tmp_path):
    path = save_imdb_npz(tmp_path / "imdb.npz", synthetic_imdb(30, 20, num_words=1000, seed=2))
    (x_train, y_train), (x_test, _) = load_data(path, num_words=200)
    x = pad_sequences(x_train, maxlen=80)
    assert x.shape == (30, 80) and x.dtype == np.int32
    assert x.min() >= 0 and x.max() < 200
    assert (x[:, -1] > 0).all()  # padding='pre': every review ends on a word
    firsts = [row[row > 0][0] for row in x if (row == 0).any()]
    assert firsts and all(f == 1 for f in firsts)  # short reviews keep their start char


def test_read_round_trip_keeps_equal_length_lists_ragged(tmp_path):
    raw = (([[1, 2], [3, 4]], np.array([0, 1])), ([[5, 6]], np.array([1])))
    (x_train, y_train), (x_test, _) = read_imdb_npz(save_imdb_npz(tmp_path / "eq.npz", raw))
    assert x_train.shape == (2,) and x_train.dtype == object
    assert as_lists(x_train) == [[1, 2], [3, 4]] and y_train.tolist() == [0, 1]


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def ragged(*seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


GOOD = {"x_train": ragged([1, 2], [3]), "y_train": np.array([0, 1]),
        "x_test": ragged([4]), "y_test": np.array([1])}


@pytest.mark.parametrize("change, message", [
    ({"x_test": None}, r"missing \['x_test'\]"),
    ({"x_train": np.array([[1, 2], [3, 4]])}, r"x_train must be a 1-D object array .* shape \(2, 2\) and dtype int64"),
    ({"y_train": np.array([0, 1, 1])}, r"y_train must be a 1-D integer array of 2 labels"),
    ({"y_train": np.array([0.0, 1.0])}, r"y_train must be a 1-D integer array .* dtype float64"),
    ({"y_test": np.array([3])}, r"y_test must hold 0/1 sentiment labels, got values \[3\]"),
    ({"x_train": ragged([1, 2], "word")}, r"x_train\[1\] must be a list of integer word ids, got str"),
    ({"x_train": ragged([1, 2], [0.5, 1.5])}, r"x_train\[1\] must be a list of integer word ids, got list \[0.5, 1.5\]"),
    ({"x_test": ragged([4, -1])}, r"x_test\[0\] must hold non-negative word ids, got -1"),
])
def test_bad_files_are_refused(tmp_path, change, message):
    arrays = {**GOOD, **change}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message):
        read_imdb_npz(path)
    with pytest.raises(InputError):
        load_data(path)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_imdb_npz(tmp_path / "absent.npz")
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    with pytest.raises(InputError, match="not a readable .npz file"):
        read_imdb_npz(text)
    single = tmp_path / "one.npy"
    np.save(single, np.arange(3))
    with pytest.raises(InputError, match="got a single .npy array"):
        read_imdb_npz(single)


def test_save_refuses_what_the_loader_would_refuse(tmp_path):
    with pytest.raises(InputError, match="y_test"):
        save_imdb_npz(tmp_path / "x.npz", (([[1]], np.array([1])), ([[2]], np.array([0, 1]))))
    assert not (tmp_path / "x.npz").exists()


# -- the synthetic corpus ---------------------------------------------------------------------------
def test_synthetic_corpus_format_and_statistics():
    (x_train, y_train), (x_test, y_test) = synthetic_imdb(2000, 1000, num_words=5000, seed=0)
    assert x_train.shape == (2000,) and x_train.dtype == object and isinstance(x_train[0], list)
    assert y_train.dtype == np.int64 and y_train.sum() == 1000 and y_test.sum() == 500  # balanced
    lengths = np.array([len(s) for s in x_train])
    assert lengths.min() >= 10 and lengths.max() <= 2500
    assert 150 < np.median(lengths) < 200 and 200 < lengths.mean() < 280  # IMDB-like
    ids = np.concatenate([np.asarray(s) for s in list(x_train) + list(x_test)])
    assert ids.min() >= 1 and ids.max() <= 5000
    counts = np.bincount(ids, minlength=5001)[1:]
    assert (np.diff(counts) <= 0).all()  # id rank is frequency rank: 1 is the most frequent word
    assert counts[0] > 5 * counts[9]  # Zipf: a steep head


def test_synthetic_corpus_is_reproducible_and_checks_options():
    a, b = synthetic_imdb(10, 5, 200, seed=3), synthetic_imdb(10, 5, 200, seed=3)
    assert as_lists(a[0][0]) == as_lists(b[0][0]) and (a[1][1] == b[1][1]).all()
    assert as_lists(synthetic_imdb(10, 5, 200, seed=4)[0][0]) != as_lists(a[0][0])
    with pytest.raises(ConfigError, match="num_words"):
        synthetic_imdb(10, 10, num_words=20)
    with pytest.raises(ConfigError, match="n_test"):
        synthetic_imdb(10, 0)


def test_synthetic_sentiment_is_learnable_by_word_counts():
    """A naive-Bayes word-count score, fit on the train split, beats chance on the test split
    after the same processing the example applies (load_data's, then pad_sequences to 80)."""
    V = 2000
    (x_train, y_train), (x_test, y_test) = prepare(synthetic_imdb(2000, 1000, num_words=V, seed=5), num_words=V)
    xa, xb = pad_sequences(x_train, maxlen=80), pad_sequences(x_test, maxlen=80)

    def counts(x):
        c = np.zeros((len(x), V))
        np.add.at(c, (np.repeat(np.arange(len(x)), x.shape[1]), x.ravel()), 1.0)
        c[:, :3] = 0.0  # padding, start, oov
        return c

    ca, cb = counts(xa), counts(xb)
    pos, neg = ca[y_train == 1].sum(0) + 1.0, ca[y_train == 0].sum(0) + 1.0
    w = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
    accuracy = ((cb @ w > 0) == y_test).mean()
    assert accuracy > 0.75
    # and without sentiment words there is nothing to learn
    (x_train, y_train), (x_test, y_test) = prepare(
        synthetic_imdb(2000, 1000, num_words=V, seed=5, sentiment_rate=0.0), num_words=V)
    ca, cb = counts(pad_sequences(x_train, maxlen=80)), counts(pad_sequences(x_test, maxlen=80))
    pos, neg = ca[y_train == 1].sum(0) + 1.0, ca[y_train == 0].sum(0) + 1.0
    w = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
    assert abs(((cb @ w > 0) == y_test).mean() - 0.5) < 0.06
