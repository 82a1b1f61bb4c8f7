"""Ragged rows (afdetect.signal.ragged): row-wise statistics equal NumPy's on each row alone."""

from __future__ import annotations

import numpy as np

from afdetect.signal.ragged import Rows, masked_median, masked_std, row_median, sorted_quantile


def random_rows(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n) for n in (1, 2, 5, 8, 17, 40)]


def test_row_statistics_match_numpy_row_by_row():
    series = random_rows()
    rows = Rows.from_list(series, width=64)
    np.testing.assert_allclose(rows.mean(), [s.mean() for s in series], rtol=1e-12)
    np.testing.assert_allclose(rows.std(), [s.std() for s in series], rtol=1e-12)
    np.testing.assert_array_equal(row_median(rows), [np.median(s) for s in series])
    for q in (0.25, 0.5, 0.75):
        np.testing.assert_array_equal(
            sorted_quantile(rows.sorted(), rows.count, q), [np.quantile(s, q) for s in series]
        )


def test_empty_rows_give_nan_and_padding_is_never_data():
    rows = Rows.from_list([np.zeros(0), np.array([5.0])], width=4)
    assert np.isnan(row_median(rows)[0]) and np.isnan(rows.mean()[0])
    assert row_median(rows)[1] == 5.0
    assert rows.valid.tolist() == [[False] * 4, [True, False, False, False]]


def test_select_keeps_the_chosen_entries_in_order():
    series = random_rows(1)
    rows = Rows.from_list(series)
    keep = rows.values > 0
    chosen = rows.select(keep)
    for i, s in enumerate(series):
        np.testing.assert_array_equal(chosen.values[i, : chosen.count[i]], s[s > 0])


def test_masked_median_and_std_ignore_masked_entries_sample_by_sample():
    rng = np.random.default_rng(2)
    values = rng.standard_normal((3, 9, 4))
    valid = rng.random((3, 9)) < 0.6
    valid[2] = False
    medians = masked_median(values, valid)
    for i in range(2):
        np.testing.assert_array_equal(medians[i], np.median(values[i][valid[i]], axis=0))
    assert np.isnan(medians[2]).all()
    flat = values[:, :, 0]
    np.testing.assert_allclose(masked_std(flat, valid)[:2], [flat[i][valid[i]].std() for i in range(2)], rtol=1e-12)
