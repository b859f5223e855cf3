"""The main job: execute notebooks top to bottom, store their outputs, refresh results/ and the README tables.

    python scripts/run_notebooks.py                     # every notebook, full profile
    python scripts/run_notebooks.py notebooks/03_*.ipynb
    python scripts/run_notebooks.py --keep-failed runs/ notebooks/06_*.ipynb
    python scripts/run_notebooks.py --profile quick     # a smoke test: writes nothing into the project
    python scripts/run_notebooks.py --table-only        # only rebuild the README tables from results/

Only a whole run publishes. A notebook's stored outputs, its ``results/NN.json`` and the notebook tables of
README.md and README.zh-CN.md are written only when every cell, the Check cell included, succeeded in the full
profile. While a notebook runs, its Results cell writes into a private staging folder (``DLUTILS_RESULTS_DIR``), and
the runner copies that file into results/ after the last cell passed; a failed or quick run leaves the notebook,
results/ and both READMEs exactly as they were. A failed run's executed notebook, with the error in it, is kept
in ``--keep-failed DIR`` (default: a folder in the system's temporary directory), and the runner prints where.

The kernel runs with ``capture_fd_output=False`` so that TensorFlow's C++ log lines go to this terminal instead of
the stored outputs (they never appear under pytest, and strict nbval would fail on them; CONVENTIONS §9).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "results"
README = ROOT / "README.md"
README_ZH = ROOT / "README.zh-CN.md"
START, END = "<!-- notebook-table:start -->", "<!-- notebook-table:end -->"
DEFAULT_KEEP = Path(tempfile.gettempdir()) / "dlutils-failed-notebooks"

# A failing cell, a cell over --timeout, a kernel that died (e.g. out of memory): the run failed.
RUN_FAILURES = (CellExecutionError, CellTimeoutError, DeadKernelError)

# The Chinese README's notebook titles; a notebook missing here is listed with its English title.
TITLES_ZH = {
    "00_getting_started": "00 · 入门：环境、张量与自动微分",
    "01_data_preprocessing": "01 · 数据预处理：从原始表格到模型可用的张量，避免自欺欺人",
    "02_neural_network_from_scratch": "02 · 从零实现神经网络：前向传播、反向传播与梯度检验",
    "03_mlp_with_keras": "03 · 用 Keras 构建多层感知机",
    "04_training_deep_networks": "04 · 训练深度网络：优化器、初始化、归一化、正则化与学习率调度",
    "05_evaluation_and_tuning": "05 · 评估与调参：如实反映性能的指标、交叉验证、超参数搜索与 TensorBoard",
    "06_convolutional_networks": "06 · 卷积神经网络",
    "07_transfer_learning_and_interpretability": "07 · 迁移学习与可解释性",
    "08_rnn_lstm_text": "08 · 用循环神经网络处理文本：从原始影评到 LSTM，以及一个难以超越的基线",
    "09_time_series_forecasting": "09 · 时间序列预测：北京 PM2.5，提前一小时与提前一天",
    "11_generative_adversarial_networks": "11 · 生成对抗网络：DCGAN、条件 GAN、失效模式与生成样本的度量",
    "12_deployment": "12 · 部署：SavedModel、TensorFlow Lite int8、ONNX，以及压力测试下的模型服务",
}

TABLE_TEXT = {
    "en": {
        "header": "| notebook | full-profile run time | headline results (full profile) |",
        "not_run": "not run yet",
        "minutes": "{:.1f} min",
        "measured_on": "Measured on: {}.",
    },
    "zh": {
        "header": "| 笔记本 | 运行时间（完整配置） | 主要结果（完整配置） |",
        "not_run": "尚未运行",
        "minutes": "{:.1f} 分钟",
        "measured_on": "测量环境：{}。",
    },
}


# ---------------------------------------------------------------------------------------------
# The README tables


def _title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def table(lang: str = "en") -> str:
    """A README's notebook table (``lang`` "en" or "zh"), built from results/*.json and the notebooks' titles."""
    text = TABLE_TEXT[lang]
    rows = [text["header"], "|---|---:|---|"]
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        result = RESULTS / f"{path.stem}.json"
        title = TITLES_ZH.get(path.stem) if lang == "zh" else None
        link = f"[{path.stem}](notebooks/{path.name}) — {title or _title(path)}"
        if not result.is_file():
            rows.append(f"| {link} | {text['not_run']} | |")
            continue
        record = json.loads(result.read_text(encoding="utf-8"))
        metrics = ", ".join(f"`{k}` {_fmt(v)}" for k, v in record["metrics"].items())
        seconds = record.get("seconds")
        runtime = text["minutes"].format(seconds / 60) if seconds else "?"
        rows.append(f"| {link} | {runtime} | {metrics} |")
    devices = {json.loads(p.read_text(encoding="utf-8")).get("device") for p in RESULTS.glob("*.json")}
    devices = {d for d in devices if d}
    note = "\n\n" + text["measured_on"].format(", ".join(sorted(devices))) if devices else ""
    return "\n".join(rows) + note


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def update_readme() -> list[Path]:
    """Rewrite the notebook table between the markers of README.md and README.zh-CN.md; return the files written."""
    written = []
    for path, lang in ((README, "en"), (README_ZH, "zh")):
        if not path.is_file():
            if path == README:
                raise SystemExit(f"{path} is missing")
            print(f"note: {path.name} not found; its table was not written")
            continue
        text = path.read_text(encoding="utf-8")
        if START not in text or END not in text:
            raise SystemExit(f"{path.name} lacks the markers {START} … {END}")
        block = f"{START}\n{table(lang)}\n{END}"
        begin = text.index(START)
        new = text[:begin] + block + text[text.index(END, begin) + len(END) :]
        if new != text:
            _write_atomically(path, new)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# Running notebooks


@dataclass
class Outcome:
    """What one run did: ``ok`` is True only when every cell passed; ``published`` lists results/ files written."""

    name: str
    ok: bool
    seconds: float
    published: list[Path] = field(default_factory=list)
    kept: Path | None = None
    error: str = ""


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernel (it inherits them) and restore them afterwards."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def should_publish(profile: str, ok: bool) -> bool:
    """Outputs, results/ and the README tables are written only for a whole, successful full-profile run."""
    return ok and profile == "full"


def _publish_results(staging: Path, stem: str) -> list[Path]:
    """Copy the staged ``<stem>.json`` (the Results cell's record) into results/, atomically."""
    published = []
    for staged in sorted(staging.glob("*.json")):
        if staged.stem != stem:
            print(f"note: ignoring {staged.name}, written by {stem} but named for another notebook")
            continue
        record = json.loads(staged.read_text(encoding="utf-8"))
        if record.get("profile") != "full":
            continue
        RESULTS.mkdir(parents=True, exist_ok=True)
        target = RESULTS / staged.name
        _write_atomically(target, staged.read_text(encoding="utf-8"))
        published.append(target)
    return published


def _keep(nb: nbformat.NotebookNode, path: Path, keep_dir: Path) -> Path:
    keep_dir.mkdir(parents=True, exist_ok=True)
    target = keep_dir / f"{path.stem}.failed.ipynb"
    nbformat.write(nb, target)
    return target


def run_notebook(path: Path, profile: str = "full", timeout: int = 1800, keep_dir: Path = DEFAULT_KEEP) -> Outcome:
    """Execute one notebook in a fresh kernel; publish (outputs, results/) only if ``should_publish``.

    On failure nothing in the project changes; the executed notebook, error included, goes to ``keep_dir``.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--IPKernelApp.capture_fd_output=False"],
    )
    staging = Path(tempfile.mkdtemp(prefix=f"results-{path.stem}-"))
    start = time.perf_counter()
    try:
        with _environment(DLUTILS_PROFILE=profile, DLUTILS_RESULTS_DIR=str(staging)):
            try:
                client.execute()
            except RUN_FAILURES as err:
                seconds = time.perf_counter() - start
                kept = _keep(nb, path, keep_dir)
                return Outcome(path.name, False, seconds, kept=kept, error=f"{type(err).__name__}: {err}")
        seconds = time.perf_counter() - start
        if not should_publish(profile, True):
            return Outcome(path.name, True, seconds)
        nbformat.write(nb, path)
        return Outcome(path.name, True, seconds, published=_publish_results(staging, path.stem))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--profile", choices=["full", "quick"], default="full")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the README tables from results/")
    parser.add_argument(
        "--keep-failed", type=Path, default=DEFAULT_KEEP, metavar="DIR",
        help=f"where a failed run's executed notebook is kept (default: {DEFAULT_KEEP})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.table_only:
        for path in update_readme():
            print(f"table rebuilt in {path.name}")
        print("\n" + table())
        return 0
    if args.profile == "quick":
        print("note: quick profile: a smoke test; stored outputs, results/ and the READMEs are left unchanged.")
    outcomes = []
    for path in args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        print(f"▶ {path.name} ({args.profile} profile) …", flush=True)
        outcome = run_notebook(path.resolve(), args.profile, args.timeout, args.keep_failed.resolve())
        outcomes.append(outcome)
        if outcome.ok:
            wrote = ", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in outcome.published)
            done = f"outputs stored, {wrote or 'no results file (no du.report call)'}" if args.profile == "full" else "nothing written"
            print(f"✓ {path.name}: {outcome.seconds:.0f} s; {done}", flush=True)
        else:
            print(
                f"✗ {path.name} failed after {outcome.seconds:.0f} s; its stored outputs, results/ and the READMEs are "
                f"unchanged.\n{outcome.error[-3000:]}\n"
                f"The executed notebook, with the error, is at {outcome.kept}",
                flush=True,
            )
    if any(should_publish(args.profile, o.ok) for o in outcomes):
        update_readme()
        print("\n" + table())
    failures = [o for o in outcomes if not o.ok]
    if failures:
        print(f"\nFailed: {', '.join(o.name for o in failures)}")
        for o in failures:
            print(f"  {o.name}: executed notebook kept at {o.kept}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
