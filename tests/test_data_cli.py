"""`python -m dlutils.data list|verify|fetch`, against a loopback HTTP origin and temporary mirror/cache folders."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import pytest

from dlutils import data
from dlutils.data import Dataset, RemoteFile
from dlutils.data.cli import main

A, B = b"first file\n" * 500, b"second file\n" * 300


@pytest.fixture
def toy(origin, monkeypatch):
    """A registry with one two-file dataset served by the loopback origin."""
    files = (
        RemoteFile("toy/a.bin", origin.add("/a.bin", A), hashlib.sha256(A).hexdigest()),
        RemoteFile("b.bin", origin.add("/b.bin", B), hashlib.sha256(B).hexdigest()),
    )
    monkeypatch.setattr(data, "REGISTRY", {"toy": Dataset("toy", files, "a toy dataset", lambda: None)})
    return origin


def test_fetch_builds_a_verified_mirror_then_verify_and_list_it(toy, dirs, tmp_path, capsys):
    target = tmp_path / "new-mirror"
    assert main(["fetch", "toy", "--to", str(target), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert (target / "toy/a.bin").read_bytes() == A and (target / "b.bin").read_bytes() == B
    assert "downloaded from" in out and "Mirror ready" in out and "DLUTILS_DATA_DIR" in out
    assert sorted(toy.hits) == ["/a.bin", "/b.bin"]
    assert not [p for p in target.rglob("*.part")]

    assert main(["fetch", "--all", "--to", str(target)]) == 0  # again: nothing downloaded twice
    assert "already in" in capsys.readouterr().out and len(toy.hits) == 2

    assert main(["verify", "--dir", str(target)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ok")]
    assert len(lines) == 2 and "origin's sha256" in lines[0]

    assert main(["list", "--dir", str(target)]) == 0
    out = capsys.readouterr().out
    assert "toy: a toy dataset" in out and "5.4 KB" in out and str(target / "b.bin") in out and "2 of 2 files" in out


def test_verify_reports_a_mismatch_with_exit_1_and_deletes_nothing(toy, dirs, capsys):
    mirror, _ = dirs
    (mirror / "toy").mkdir()
    (mirror / "toy/a.bin").write_bytes(A[:-1] + b"!")
    assert main(["verify"]) == 1
    captured = capsys.readouterr()
    assert "MISMATCH  toy/a.bin" in captured.out and hashlib.sha256(A).hexdigest() in captured.out
    assert "absent    b.bin" in captured.out  # absent files are listed; they fail only when asked for
    assert "nothing was changed" in captured.err
    assert (mirror / "toy/a.bin").exists()
    (mirror / "toy/a.bin").write_bytes(A)
    assert main(["verify"]) == 0
    assert main(["verify", "toy"]) == 1  # named: every file must be there
    assert "MISSING   b.bin" in capsys.readouterr().out


def test_fetch_reports_every_failure_and_keeps_what_it_got(toy, dirs, tmp_path, capsys):
    toy.add("/b.bin", b"", status=404)
    target = tmp_path / "m"
    assert main(["fetch", "toy", "--to", str(target), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "HTTP 404" in captured.err and "b.bin" in captured.err
    assert (target / "toy/a.bin").read_bytes() == A and not (target / "b.bin").exists()
    (target / "b.bin").write_bytes(b"a file the user put there")
    assert main(["fetch", "toy", "--to", str(target), "--quiet"]) == 1
    assert "left in place" in capsys.readouterr().err
    assert (target / "b.bin").read_bytes() == b"a file the user put there"


def test_fetch_offline_copies_verified_local_files_and_names_the_rest(toy, dirs, tmp_path, monkeypatch, capsys):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    (mirror / "toy").mkdir()
    (mirror / "toy/a.bin").write_bytes(A)
    target = tmp_path / "usb"
    assert main(["fetch", "toy", "--to", str(target)]) == 1
    captured = capsys.readouterr()
    assert "copied from mirror" in captured.out and (target / "toy/a.bin").read_bytes() == A
    assert "b.bin" in captured.err and "DLUTILS_OFFLINE=1" in captured.err
    assert toy.hits == []


def test_fetch_needs_names_and_rejects_unknown_ones(toy, dirs):
    with pytest.raises(SystemExit, match="--all"):
        main(["fetch"])
    with pytest.raises(SystemExit, match="unknown dataset"):
        main(["verify", "cifar10"])


def test_python_dash_m_runs_without_warnings(tmp_path):
    env = {**os.environ, "DLUTILS_DATA_DIR": str(tmp_path), "DLUTILS_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "dlutils.data", "list"], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "fashion-mnist/train-images-idx3-ubyte.gz" in out.stdout and re.search(r"0 of \d+ files present", out.stdout)
    assert "Warning" not in out.stderr
