"""The Results cell of every notebook: print the headline numbers and keep them in ``results/``.

>>> du.report("03_mlp_with_keras", test_accuracy=0.9831, train_seconds=41.2)  # doctest: +SKIP

prints a small table; in the full profile only, it also writes ``results/03_mlp_with_keras.json``::

    {"notebook": …, "profile": "full", "metrics": {…}, "seconds": …, "versions": {…}, "device": …, "date": …}

``seconds`` is the time since ``du.setup()``, i.e. the notebook's run time up to its Results cell.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import re
import tempfile
from pathlib import Path

from . import config, device


def _plain(value: object) -> object:
    """Convert NumPy scalars to Python numbers so that json can write them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"metric value {v} is not finite")
        return v
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return value
    raise TypeError(f"cannot store a metric of type {type(value).__name__}: {value!r}")


def _format(value: object) -> str:
    """Four decimals for ordinary floats, scientific notation for tiny ones (e.g. a gradient error)."""
    if isinstance(value, float):
        return f"{value:.2e}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def report(notebook: str, **metrics: object) -> Path | None:
    """Print ``metrics`` as a table; in the full profile, write ``results/<notebook>.json`` and return its path.

    In the quick profile nothing is written (quick runs never overwrite results) and None is returned.
    """
    if not re.fullmatch(r"\d\d_[a-z0-9_]+", notebook):
        raise ValueError(f"notebook must look like '03_mlp_with_keras', not {notebook!r}")
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report('03_mlp', test_accuracy=0.98)")
    values = {k: _plain(v) for k, v in metrics.items()}
    width = max(len(k) for k in values)
    print(f"{'metric':<{width}}  value")
    for k, v in values.items():
        shown = _format(v)
        print(f"{k:<{width}}  {shown}")
    if config.is_quick():
        return None
    seconds = device.seconds_since_setup()
    record = {
        "notebook": notebook,
        "profile": config.profile(),
        "metrics": values,
        "seconds": None if seconds is None else round(seconds, 1),
        "versions": device.versions(),
        "device": device.describe(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out_dir = config.results_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{notebook}.json"
    fd, tmp = tempfile.mkstemp(prefix=f".{notebook}.", suffix=".json", dir=out_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are for everyone to read
    os.replace(tmp, target)
    return target
