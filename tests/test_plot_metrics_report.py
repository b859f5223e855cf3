"""Plots (headless), metrics and the Results helper."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import f1_score, precision_score, recall_score  # noqa: E402

import dlutils as du  # noqa: E402

HISTORY = {"loss": [1.0, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9], "val_loss": [1.1, 0.7, 0.6], "val_accuracy": [0.5, 0.7, 0.8]}


def test_learning_curves_panels_and_lines():
    fig = du.plot.learning_curves(HISTORY)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[0].get_lines()[1].get_ydata()) == HISTORY["val_loss"]


def test_learning_curves_accepts_history_object_and_rejects_unknown_metric():
    class History:  # the attribute Keras' History has
        history = {"loss": [1.0, 0.5]}

    assert [ax.get_title() for ax in du.plot.learning_curves(History()).axes] == ["loss"]
    with pytest.raises(ValueError, match="not in the history"):
        du.plot.learning_curves(HISTORY, metrics=["auc"])
    with pytest.raises(ValueError, match="empty"):
        du.plot.learning_curves({})


def test_image_grid_titles_and_mistakes_in_red():
    images = np.random.default_rng(0).random((12, 28, 28))
    fig = du.plot.image_grid(images, labels=[0] * 12, predictions=[0] * 11 + [1], class_names=["zero", "one"], ncols=6)
    axes = fig.axes
    assert len(axes) == 12
    assert axes[0].get_title() == "zero→zero"
    assert axes[11].get_title() == "zero→one" and axes[11].title.get_color() == "red"
    with pytest.raises(ValueError, match="labels"):
        du.plot.image_grid(images, labels=[0])


def test_confusion_matrix_counts():
    fig = du.plot.confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], class_names=["a", "b"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1", "1", "0", "2"]
    assert fig.axes[0].get_title() == "Confusion matrix"


def test_classifier_report_matches_sklearn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    df = du.metrics.classifier_report(y_true, y_pred, class_names=["a", "b", "c"])
    assert df.loc["b", "precision"] == round(precision_score(y_true, y_pred, average=None)[1], 4)
    assert df.loc["c", "recall"] == round(recall_score(y_true, y_pred, average=None)[2], 4)
    assert df.loc["macro avg", "f1-score"] == round(f1_score(y_true, y_pred, average="macro"), 4)
    assert df.loc["accuracy", "f1-score"] == round(np.mean(y_true == y_pred), 4)
    with pytest.raises(ValueError, match="shape"):
        du.metrics.classifier_report([0, 1], [0])


def test_timer():
    import time

    with du.Timer() as t:
        time.sleep(0.05)
    assert 0.04 < t.seconds < 1


def test_report_writes_only_in_full_profile(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DLUTILS_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("DLUTILS_PROFILE", "quick")
    assert du.report("99_test_notebook", test_accuracy=np.float32(0.5)) is None
    assert list(tmp_path.iterdir()) == []
    assert "test_accuracy  0.5000" in capsys.readouterr().out

    monkeypatch.setenv("DLUTILS_PROFILE", "full")
    du.setup(seed=1)
    path = du.report("99_test_notebook", test_accuracy=np.float64(0.98765), epochs=np.int64(3))
    record = json.loads(path.read_text())
    assert path == tmp_path / "99_test_notebook.json"
    assert record["metrics"] == {"test_accuracy": 0.98765, "epochs": 3}
    assert record["profile"] == "full" and record["seconds"] >= 0
    assert set(record) == {"notebook", "profile", "metrics", "seconds", "versions", "device", "date"}
    assert record["versions"]["keras"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_report_rejects_bad_input(monkeypatch, tmp_path):
    monkeypatch.setenv("DLUTILS_RESULTS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="notebook"):
        du.report("mlp", acc=1.0)
    with pytest.raises(ValueError, match="at least one"):
        du.report("03_mlp")
    with pytest.raises(ValueError, match="finite"):
        du.report("03_mlp", acc=float("nan"))
    assert list(tmp_path.iterdir()) == []


def test_setup_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv("DLUTILS_PROFILE", "quick")
    du.setup(seed=3, mixed_precision=True)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    line = out[0]
    assert "Keras" in line and "profile quick" in line and "seed 3" in line
    if not du.device.gpus():
        assert "CPU," in line and "mixed precision off (no GPU)" in line


def test_setup_survives_a_keras_backend_that_cannot_load():
    """Under a backend whose library is missing (Keras' NumPy backend needs JAX, not installed here), setup()
    must still print its line and say so, instead of crashing the first cell of every notebook."""
    code = "import dlutils as du; du.setup(seed=0)"
    env = {**os.environ, "KERAS_BACKEND": "numpy", "DLUTILS_PROFILE": "quick"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "profile quick" in out.stdout
    try:
        import jax  # noqa: F401
    except ImportError:
        assert "(backend unavailable: No module named 'jax')" in out.stdout
    else:
        assert "(numpy backend)" in out.stdout
