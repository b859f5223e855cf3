"""Profiles and seeding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dlutils as du


def test_default_profile_is_full(monkeypatch):
    monkeypatch.delenv("DLUTILS_PROFILE", raising=False)
    assert du.profile() == "full" and not du.is_quick()
    assert du.pick(full=12, quick=1) == 12


def test_quick_profile_switches_pick_and_take(monkeypatch):
    monkeypatch.setenv("DLUTILS_PROFILE", "quick")
    assert du.pick(full=12, quick=1) == 1
    x, y = np.arange(100).reshape(50, 2), np.arange(50)
    xs, ys = du.take(x, y, quick=10)
    assert len(xs) == len(ys) == 10
    assert np.array_equal(xs[:, 0] // 2, ys)  # the same rows from both arrays
    assert np.all(np.diff(ys) > 0)  # order kept
    df = pd.DataFrame({"a": range(50)})
    assert len(du.take(df, quick=7)) == 7
    assert du.take([1, 2, 3], quick=2) in ([1, 2], [1, 3], [2, 3])


def test_take_is_identity_in_full_profile(monkeypatch):
    monkeypatch.setenv("DLUTILS_PROFILE", "full")
    x = np.arange(10)
    assert du.take(x, quick=3) is x


def test_take_rejects_bad_arguments(monkeypatch):
    monkeypatch.setenv("DLUTILS_PROFILE", "quick")
    with pytest.raises(ValueError, match="different lengths"):
        du.take(np.arange(3), np.arange(4), quick=2)
    with pytest.raises(ValueError, match="positive"):
        du.take(np.arange(3), quick=0)


@pytest.mark.parametrize("value", ["fast", "Full-ish", "1"])
def test_unknown_profile_is_an_error(monkeypatch, value):
    monkeypatch.setenv("DLUTILS_PROFILE", value)
    with pytest.raises(ValueError, match="not a profile"):
        du.profile()


def test_profile_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("DLUTILS_PROFILE", " QUICK ")
    assert du.is_quick()


def test_seed_everything_repeats_numpy_and_keras():
    import keras

    def draw():
        return np.random.rand(3), keras.ops.convert_to_numpy(keras.random.normal((3,)))

    du.seed_everything(7)
    a = draw()
    du.seed_everything(7)
    b = draw()
    du.seed_everything(8)
    c = draw()
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_settings_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("DLUTILS_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("DLUTILS_RESULTS_DIR", str(tmp_path / "r"))
    monkeypatch.delenv("DLUTILS_DATA_DIR", raising=False)
    assert du.config.cache_dir() == tmp_path / "c"
    assert du.config.results_dir() == tmp_path / "r"
    assert du.config.data_dir() is None
