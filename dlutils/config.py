"""Run profile, seeding and every setting read from the environment.

This is the only module of the collection that reads ``os.environ``. Notebooks ask it:

>>> import dlutils as du
>>> EPOCHS = du.pick(full=12, quick=1)
>>> x_small, y_small = du.take(x_train, y_train, quick=4000)  # doctest: +SKIP

Environment variables
---------------------
``DLUTILS_PROFILE``      ``full`` (default): what a reader runs; ``quick``: the tiny budget used by CI.
``DLUTILS_DATA_DIR``     a local mirror of the datasets (laid out like ``shared/datasets``), looked at first.
``DLUTILS_CACHE_DIR``    where downloads and extracted archives go (default: the project's ``data/``).
``DLUTILS_OFFLINE``      ``1`` forbids downloads: a missing file is an error at once.
``DLUTILS_RESULTS_DIR``  where ``report`` writes ``<notebook>.json`` (default: the project's ``results/``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

PROFILES = ("full", "quick")

# The project root when dlutils is used from a checkout (pip install -e .); None when installed elsewhere.
_ROOT = Path(__file__).resolve().parent.parent
PROJECT_ROOT: Path | None = _ROOT if (_ROOT / "pyproject.toml").is_file() else None


def profile() -> str:
    """Return the run profile, ``"full"`` or ``"quick"``, from ``DLUTILS_PROFILE`` (default ``full``).

    Raises ``ValueError`` for any other value, so that a typo never silently runs the full budget in CI.
    """
    value = os.environ.get("DLUTILS_PROFILE", "full").strip().lower() or "full"
    if value not in PROFILES:
        raise ValueError(f"DLUTILS_PROFILE={value!r} is not a profile; use one of {PROFILES}")
    return value


def is_quick() -> bool:
    """True in the quick profile (CI)."""
    return profile() == "quick"


def pick(*, full: T, quick: T) -> T:
    """Choose a value by profile: ``EPOCHS = pick(full=12, quick=1)``."""
    return quick if is_quick() else full


def take(*arrays: Any, quick: int, seed: int = 0) -> Any:
    """In the quick profile, return a random subset of ``quick`` rows of each array (same rows for all);
    in the full profile, return the arrays unchanged.

    Works with NumPy arrays, lists and pandas objects (rows by position). One array in, one out;
    several in, a tuple out::

        x_train, y_train = take(x_train, y_train, quick=4000)
    """
    if not arrays:
        raise ValueError("take() needs at least one array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"take(): arrays have different lengths {[len(a) for a in arrays]}")
    if quick <= 0:
        raise ValueError(f"take(quick={quick}): the quick size must be positive")
    if not is_quick() or quick >= n:
        return arrays[0] if len(arrays) == 1 else arrays
    index = np.sort(np.random.default_rng(seed).choice(n, size=quick, replace=False))
    out = tuple(_rows(a, index) for a in arrays)
    return out[0] if len(out) == 1 else out


def _rows(array: Any, index: np.ndarray) -> Any:
    if hasattr(array, "iloc"):  # pandas
        return array.iloc[index]
    if isinstance(array, np.ndarray):
        return array[index]
    return [array[i] for i in index]


def seed_everything(seed: int = 42) -> None:
    """Seed Python's ``random``, NumPy and, when installed, Keras (which seeds the backend, e.g. TensorFlow)."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import keras
    except ImportError:  # dlutils' data layer works without Keras
        return
    keras.utils.set_random_seed(seed)


def _path_from_env(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path | None:
    """The local dataset mirror from ``DLUTILS_DATA_DIR``, or None when unset."""
    return _path_from_env("DLUTILS_DATA_DIR")


def cache_dir() -> Path:
    """Where downloads and extracted archives are stored: ``DLUTILS_CACHE_DIR``, else the project's
    ``data/`` folder, else ``~/.cache/dlutils``."""
    env = _path_from_env("DLUTILS_CACHE_DIR")
    if env is not None:
        return env
    if PROJECT_ROOT is not None:
        return PROJECT_ROOT / "data"
    return Path.home() / ".cache" / "dlutils"


def offline() -> bool:
    """True when ``DLUTILS_OFFLINE`` is set to 1/true/yes: no download is attempted."""
    return os.environ.get("DLUTILS_OFFLINE", "").strip().lower() in {"1", "true", "yes"}


def results_dir() -> Path:
    """Where ``report`` writes JSON: ``DLUTILS_RESULTS_DIR``, else the project's ``results/``, else ``./results``."""
    env = _path_from_env("DLUTILS_RESULTS_DIR")
    if env is not None:
        return env
    if PROJECT_ROOT is not None:
        return PROJECT_ROOT / "results"
    return Path.cwd() / "results"
