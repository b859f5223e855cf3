"""Hygiene of every stored notebook (CONVENTIONS §4-5). nbval, run by the same `pytest`, re-executes them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_size_under_2_mb(notebook):
    path, _ = notebook
    assert path.stat().st_size < 2_000_000, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"


def test_executed_top_to_bottom_without_errors(notebook):
    path, nb = notebook
    counts = [c.execution_count for c in code_cells(nb)]
    assert None not in counts, f"{path.name}: cells never executed"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: not executed in order from a fresh kernel"
    for cell in code_cells(nb):
        for out in cell.outputs:
            assert out.output_type != "error", f"{path.name}: stored error in cell {cell.execution_count}"
            assert "Traceback" not in out.get("text", ""), f"{path.name}: traceback in cell {cell.execution_count}"


def test_anatomy_setup_results_check(notebook):
    path, nb = notebook
    cells = code_cells(nb)
    assert "du.setup(" in cells[0].source, f"{path.name}: the first code cell must call du.setup()"
    setup_out = "".join(o.get("text", "") for o in cells[0].outputs)
    assert "profile full" in setup_out, f"{path.name}: stored outputs must come from a full-profile run"
    report = [i for i, c in enumerate(cells) if re.search(rf"du\.report\(\s*\"{path.stem}\"", c.source)]
    assert report, f'{path.name}: no Results cell calling du.report("{path.stem}", ...)'
    checks = [i for i, c in enumerate(cells) if c.source.lstrip().startswith("# Check") and "assert" in c.source]
    assert checks and max(checks) > report[0], f"{path.name}: no '# Check' cell with an assert after the Results"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("Pitfall", "Results", "Exercises"):
        assert heading in text, f"{path.name}: no {heading} section"


def test_profile_is_read_only_by_dlutils(notebook):
    path, nb = notebook
    for cell in code_cells(nb):
        assert "os.environ" not in cell.source, f"{path.name}: ask dlutils (du.pick/du.take), not os.environ"


def test_results_file_from_full_run(notebook):
    path, _ = notebook
    result = ROOT / "results" / f"{path.stem}.json"
    assert result.is_file(), f"results/{path.stem}.json missing: run the notebook in the full profile"
    record = json.loads(result.read_text())
    assert record["profile"] == "full" and record["notebook"] == path.stem and record["metrics"]
