"""Every notebook has a committed text source (jupytext py:percent in notebooks/src/) with the same cells.

The executed `.ipynb` is what a reader opens; the `.py` beside it is what a maintainer edits and reviews as text.
After editing either one, `jupytext --sync notebooks/*.ipynb` brings the other up to date (README, Contributing).
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = ROOT / "notebooks" / "src"


def cells(nb) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: what the pair must agree on (outputs and metadata live in the .ipynb)."""
    return [(c.cell_type, c.source) for c in nb.cells]


def test_pairing_is_configured():
    config = (ROOT / "notebooks" / "jupytext.toml").read_text()
    assert 'formats = "ipynb,src//py:percent"' in config


def test_every_source_has_its_notebook():
    orphans = {p.stem for p in SOURCES.glob("*.py")} - {p.stem for p in NOTEBOOKS}
    assert not orphans, f"text sources without a notebook: {sorted(orphans)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_text_source_matches_notebook(path: Path):
    source = SOURCES / f"{path.stem}.py"
    assert source.exists(), f"{source.relative_to(ROOT)} is missing: run `jupytext --sync {path.relative_to(ROOT)}`"
    notebook, text = cells(nbformat.read(path, as_version=4)), cells(jupytext.read(source))
    assert len(notebook) == len(text), (
        f"{path.name} has {len(notebook)} cells, its source {len(text)}: run `jupytext --sync notebooks/*.ipynb`"
    )
    for i, (a, b) in enumerate(zip(notebook, text, strict=True)):
        assert a == b, f"{path.name} cell {i} differs from {source.name}: run `jupytext --sync notebooks/*.ipynb`"


def test_a_changed_cell_is_detected(tmp_path: Path):
    """The comparison above can fail: a one-word edit on one side only is caught."""
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    (tmp_path / "nb.py").write_text(jupytext.writes(nb, fmt="py:percent"))
    edited = nbformat.read(NOTEBOOKS[0], as_version=4)
    first_markdown = next(c for c in edited.cells if c.cell_type == "markdown")
    first_markdown.source += " edited"
    assert cells(jupytext.read(tmp_path / "nb.py")) == cells(nb)
    assert cells(jupytext.read(tmp_path / "nb.py")) != cells(edited)
