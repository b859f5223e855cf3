"""The main job, scripts/run_notebooks.py: only a whole full-profile run publishes; both READMEs list the same table.

The runner is exercised for real on tiny throwaway notebooks (a fresh kernel each), in a throwaway project folder.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
runner = importlib.util.module_from_spec(_spec)
sys.modules["run_notebooks"] = runner  # dataclasses look their module up there
_spec.loader.exec_module(runner)

README_TEXT = "# Title\n\nintro text\n\n{start}\nold table\n{end}\n\nmore text after the table\n"


def make_notebook(path: Path, *, check: str) -> Path:
    """A tiny notebook shaped like ours: set-up, a Results cell writing results/<stem>.json, then a Check cell.

    Its Results cell writes in every profile (du.report would not in quick), to prove that the runner decides."""
    stem = path.stem
    record = f"{{'notebook': '{stem}', 'profile': config.profile(), 'metrics': {{'answer': 42}}, 'seconds': 6.0, 'device': 'test CPU'}}"
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(f"# {stem[:2]} · A tiny notebook"),
        new_code_cell("import json\nfrom dlutils import config\nprint('profile', config.profile())"),
        new_code_cell(
            "# Results\nout = config.results_dir()\nout.mkdir(parents=True, exist_ok=True)\n"
            f"(out / '{stem}.json').write_text(json.dumps({record}))"
        ),
        new_code_cell(f"# Check\nassert {check}, 'the check failed'"),
    ]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throwaway project: notebooks/, results/, README.md and README.zh-CN.md, wired into the runner."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    (root / "results").mkdir()
    for name in ("README.md", "README.zh-CN.md"):
        (root / name).write_text(README_TEXT.format(start=runner.START, end=runner.END), encoding="utf-8")
    for attr, value in {
        "ROOT": root, "NOTEBOOKS": root / "notebooks", "RESULTS": root / "results",
        "README": root / "README.md", "README_ZH": root / "README.zh-CN.md",
    }.items():  # fmt: skip
        monkeypatch.setattr(runner, attr, value)
    monkeypatch.delenv("DLUTILS_RESULTS_DIR", raising=False)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def table_block(text: str) -> str:
    return text.split(runner.START, 1)[1].split(runner.END, 1)[0]


def test_only_a_whole_full_run_publishes_and_a_failed_one_is_kept(project, tmp_path, capsys):
    good = make_notebook(project / "notebooks/98_good.ipynb", check="True")
    bad = make_notebook(project / "notebooks/99_bad.ipynb", check="False")  # fails after its Results cell
    earlier = {"notebook": "99_bad", "profile": "full", "metrics": {"answer": 1}, "seconds": 60.0, "device": "test CPU"}
    (project / "results/99_bad.json").write_text(json.dumps(earlier))  # an earlier good run's record
    bad_before = bad.read_bytes()
    keep = tmp_path / "failed-runs"

    assert runner.main(["--keep-failed", str(keep), str(good), str(bad)]) == 1
    out = capsys.readouterr().out

    # the good notebook: outputs stored, result published
    assert json.loads((project / "results/98_good.json").read_text())["metrics"] == {"answer": 42}
    stored = nbformat.read(good, as_version=4)
    assert [c.execution_count for c in stored.cells if c.cell_type == "code"] == [1, 2, 3]
    # the failed one: notebook, results/ untouched; its executed copy kept, and the runner says where
    assert bad.read_bytes() == bad_before
    assert json.loads((project / "results/99_bad.json").read_text()) == earlier
    assert sorted(p.name for p in (project / "results").iterdir()) == ["98_good.json", "99_bad.json"]
    kept = keep / "99_bad.failed.ipynb"
    assert str(kept) in out and "Failed: 99_bad.ipynb" in out
    errors = [o for c in nbformat.read(kept, as_version=4).cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]  # fmt: skip
    assert errors and "the check failed" in errors[0]["evalue"]
    # both README tables rebuilt from results/ (the good run published), the text around them kept
    for name, minutes in (("README.md", "0.1 min"), ("README.zh-CN.md", "0.1 分钟")):
        text = (project / name).read_text(encoding="utf-8")
        assert text.startswith("# Title\n\nintro text\n\n") and text.endswith("more text after the table\n")
        block = table_block(text)
        assert f"[98_good](notebooks/98_good.ipynb) — 98 · A tiny notebook | {minutes} | `answer` 42 |" in block
        assert "`answer` 1 |" in block and "test CPU" in block


def test_quick_run_writes_nothing_into_the_project(project, capsys):
    good = make_notebook(project / "notebooks/98_good.ipynb", check="True")
    before = snapshot(project)
    assert runner.main(["--profile", "quick", str(good)]) == 0
    assert snapshot(project) == before
    assert "nothing written" in capsys.readouterr().out


def test_a_failed_quick_run_writes_nothing_either(project, tmp_path):
    bad = make_notebook(project / "notebooks/99_bad.ipynb", check="False")
    before = snapshot(project)
    assert runner.main(["--profile", "quick", "--keep-failed", str(tmp_path / "k"), str(bad)]) == 1
    assert snapshot(project) == before
    assert (tmp_path / "k/99_bad.failed.ipynb").is_file()


def test_publish_decision():
    assert runner.should_publish("full", True)
    assert not runner.should_publish("full", False)
    assert not runner.should_publish("quick", True)
    assert not runner.should_publish("quick", False)


def test_table_only_writes_both_readmes(project, capsys):
    for stem in ("98_good", "99_bad"):
        make_notebook(project / f"notebooks/{stem}.ipynb", check="True")
    record = {"notebook": "98_good", "profile": "full", "metrics": {"acc": 0.98765, "tiny": 2e-7, "best": "GRU"},
              "seconds": 150.0, "device": "CPU, 2 threads"}  # fmt: skip
    (project / "results/98_good.json").write_text(json.dumps(record))
    assert runner.main(["--table-only"]) == 0
    en = table_block((project / "README.md").read_text(encoding="utf-8"))
    zh = table_block((project / "README.zh-CN.md").read_text(encoding="utf-8"))
    assert "| 2.5 min | `acc` 0.9877, `tiny` 2.0e-07, `best` GRU |" in en and "| not run yet | |" in en
    assert "| 2.5 分钟 | `acc` 0.9877, `tiny` 2.0e-07, `best` GRU |" in zh and "| 尚未运行 | |" in zh
    assert "Measured on: CPU, 2 threads." in en and "测量环境：CPU, 2 threads。" in zh
    assert rows(en).keys() == rows(zh).keys() == {"98_good.ipynb", "99_bad.ipynb"}


# --- the repository's two READMEs ------------------------------------------------------------------------


def rows(block: str) -> dict[str, tuple[str, str]]:
    """notebook file -> (run time number, results) for each row of a README table."""
    found = {}
    for line in block.splitlines():
        m = re.match(r"\| \[\w+\]\(notebooks/(\w+\.ipynb)\) — .*? \|([^|]*)\|([^|]*)\|$", line)
        if m:
            minutes = re.match(r"[\d.]+", m.group(2).strip())
            found[m.group(1)] = (minutes.group(0) if minutes else "", m.group(3).strip())
    return found


def test_both_readmes_list_the_same_notebooks_with_the_same_numbers():
    en = rows(table_block((ROOT / "README.md").read_text(encoding="utf-8")))
    zh = rows(table_block((ROOT / "README.zh-CN.md").read_text(encoding="utf-8")))
    on_disk = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(en) == on_disk, "README.md's table is stale: run python scripts/run_notebooks.py --table-only"
    assert set(zh) == set(en), "README.zh-CN.md lists other notebooks than README.md: run --table-only"
    assert zh == en, "the two READMEs show different numbers: run python scripts/run_notebooks.py --table-only"


def test_readmes_link_each_other():
    assert "(README.zh-CN.md)" in (ROOT / "README.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    zh = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "(README.md)" in zh.split("\n## ", 1)[0]
    assert "## 术语表" in zh
