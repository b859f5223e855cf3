"""Scoring a classifier (thin wrappers over ``sklearn.metrics``) and timing code.

>>> with du.Timer() as t:                                   # doctest: +SKIP
...     model.fit(x, y)
>>> print(f"trained in {t.seconds:.1f} s")                  # doctest: +SKIP
>>> du.metrics.classifier_report(y_test, y_pred, class_names)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd


def classifier_report(y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support, plus accuracy and macro/weighted averages, as a DataFrame.

    Built on ``sklearn.metrics.classification_report``; rounded to 4 decimals for display.
    """
    from sklearn.metrics import classification_report

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    labels = np.arange(len(class_names)) if class_names is not None else None
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    accuracy = report.pop("accuracy", None)
    df = pd.DataFrame(report).T
    df["support"] = df["support"].astype(int)
    if accuracy is None:  # sklearn omits it when `labels` is a subset; recompute
        accuracy = float(np.mean(y_true == y_pred))
    df.loc["accuracy"] = [np.nan, np.nan, accuracy, len(y_true)]
    return df.round(4)


class Timer:
    """Wall-clock timer, as a context manager: ``with Timer() as t: ...`` then ``t.seconds``."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.seconds: float = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.start is not None
        self.seconds = time.perf_counter() - self.start
