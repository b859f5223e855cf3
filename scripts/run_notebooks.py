"""The main job: execute notebooks top to bottom, store their outputs, refresh results/ and the README table.

    python scripts/run_notebooks.py                     # every notebook, full profile
    python scripts/run_notebooks.py notebooks/03_*.ipynb
    python scripts/run_notebooks.py --table-only        # only rebuild the README table from results/

A notebook is written back only when every cell ran without error, so a failed run never replaces
good stored outputs. The kernel runs with ``capture_fd_output=False`` so that TensorFlow's C++ log
lines go to this terminal instead of the stored outputs (they never appear under pytest, and strict
nbval would fail on them; CONVENTIONS §9).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "results"
README = ROOT / "README.md"
START, END = "<!-- notebook-table:start -->", "<!-- notebook-table:end -->"


def execute(path: Path, profile: str, timeout: int) -> float:
    """Execute one notebook in place; return its wall time in seconds. Raises on a failing cell."""
    nb = nbformat.read(path, as_version=4)
    os.environ["DLUTILS_PROFILE"] = profile  # the kernel inherits the environment
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--IPKernelApp.capture_fd_output=False"],
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


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


def table() -> str:
    """The README's notebook table, built from results/*.json and the notebooks' titles."""
    rows = [
        "| notebook | full-profile run time | headline results (full profile) |",
        "|---|---:|---|",
    ]
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        result = RESULTS / f"{path.stem}.json"
        link = f"[{path.stem}](notebooks/{path.name}) — {_title(path)}"
        if not result.is_file():
            rows.append(f"| {link} | not run yet | |")
            continue
        record = json.loads(result.read_text())
        metrics = ", ".join(f"`{k}` {_fmt(v)}" for k, v in record["metrics"].items())
        seconds = record.get("seconds")
        runtime = f"{seconds / 60:.1f} min" if seconds else "?"
        rows.append(f"| {link} | {runtime} | {metrics} |")
    devices = {json.loads(p.read_text()).get("device") for p in RESULTS.glob("*.json")}
    note = f"\n\nMeasured on: {', '.join(sorted(d for d in devices if d))}." if devices else ""
    return "\n".join(rows) + note


def update_readme() -> None:
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START} … {END}")
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), f"{START}\n{table()}\n{END}", text, flags=re.S)
    README.write_text(new, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--profile", choices=["full", "quick"], default="full")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the README table")
    args = parser.parse_args()
    if args.profile == "quick":
        print("note: a quick run overwrites the stored outputs; do not commit them (commit full-profile runs).")
    failures = []
    if not args.table_only:
        paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        for path in paths:
            print(f"▶ {path.name} ({args.profile} profile) …", flush=True)
            try:
                seconds = execute(path.resolve(), args.profile, args.timeout)
            except CellExecutionError as err:
                failures.append(path.name)
                print(f"✗ {path.name} failed; stored outputs left unchanged.\n{str(err)[-3000:]}", flush=True)
                continue
            print(f"✓ {path.name}: {seconds:.0f} s", flush=True)
    update_readme()
    print("\n" + table())
    if failures:
        print(f"\nFailed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
