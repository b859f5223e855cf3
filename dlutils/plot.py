"""Plots every notebook needs. Each function draws a new figure and returns its ``Figure``.

End the cell with ``plt.show()`` so that Jupyter shows the picture once (a trailing ``;`` is not enough
under ``pytest --nbval``, which executes cells without storing history, where IPython ignores the ``;``)::

    du.plot.learning_curves(history)
    plt.show()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def learning_curves(history: Any, metrics: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Training and validation curves from a Keras ``History`` (or its ``.history`` dict), one panel per metric.

    By default, one panel for the loss and one for each other metric that was logged (``accuracy``, …);
    validation curves (``val_*``) are drawn in the same panel, dashed.
    """
    logs: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if not logs:
        raise ValueError("the history is empty: was fit() run?")
    if metrics is None:
        metrics = [k for k in logs if not k.startswith("val_") and k not in ("learning_rate", "lr")]
    unknown = [m for m in metrics if m not in logs]
    if unknown:
        raise ValueError(f"metrics {unknown} are not in the history; it has {sorted(logs)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    for ax, name in zip(axes[0], metrics, strict=True):
        epochs = np.arange(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], "o-", ms=3, label="train")
        if f"val_{name}" in logs:
            ax.plot(epochs, logs[f"val_{name}"], "s--", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(
    images: Any,
    labels: Sequence[Any] | None = None,
    predictions: Sequence[Any] | None = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 10,
    cmap: str = "gray",
    title: str | None = None,
) -> Figure:
    """A grid of images with their labels (and predictions, red when wrong).

    ``images``: (N, H, W) or (N, H, W, C) array. Labels/predictions are integers (mapped through
    ``class_names`` when given) or strings.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"expected a non-empty batch of images (N, H, W[, C]), got shape {images.shape}")
    n = len(images)
    for name, seq in (("labels", labels), ("predictions", predictions)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{len(seq)} {name} for {n} images")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    # Constrained layout keeps each tile's label clear of the row above (tight_layout let the
    # square images of one row cover the titles of the next).
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.5 * nrows), squeeze=False, layout="constrained")

    def name_of(v: Any) -> str:
        return class_names[int(v)] if class_names is not None else str(v)

    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap if images.ndim == 3 else None)
        text, color = "", "black"
        if labels is not None:
            text = name_of(labels[i])
        if predictions is not None:
            text = f"{text}→{name_of(predictions[i])}" if text else name_of(predictions[i])
            if labels is not None and name_of(labels[i]) != name_of(predictions[i]):
                color = "red"
        if text:
            ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    return fig


def confusion_matrix(
    y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None, normalize: str | None = None,
    title: str | None = None,
) -> Figure:  # fmt: skip
    """Confusion matrix drawn with scikit-learn's ``ConfusionMatrixDisplay`` (rows: true, columns: predicted).

    ``normalize``: None for counts, ``"true"`` for per-class recall on the diagonal.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(class_names) if class_names is not None else None
    fig, ax = plt.subplots(figsize=(6.5, 5.5) if (n or 10) > 4 else (4, 3.5))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, display_labels=class_names, normalize=normalize, ax=ax, cmap="Blues",
        colorbar=False, values_format=".2f" if normalize else "d", xticks_rotation=45 if n and n > 4 else "horizontal",
    )  # fmt: skip
    ax.set_title(title or "Confusion matrix")
    fig.tight_layout()
    return fig
