"""The Tatoeba English-Chinese loader and the split by distinct sentence: small real-format files and the real mirror."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dlutils import data
from dlutils.data import DataError

GOOD = (
    "\ufeffHi.\t嗨。\tCC-BY 2.0 (France) Attribution: tatoeba.org #538123 (CM) & #891077 (Martha)\n"
    "Run.\t你用跑的。\tCC-BY 2.0 (France) Attribution: tatoeba.org #4008918 (JSakuragi) & #3748344 (egg0073)\n"
    "Run.\t跑。\tCC-BY 2.0 (France) Attribution: tatoeba.org #4008918 (JSakuragi) & #9999 (someone)\n"
    "Wait!\t等等！\tCC-BY 2.0 (France) Attribution: tatoeba.org #1744314 (belgavox) & #4970122 (wzhd)\n"
    "\n"
)


def write(mirror: Path, text: str | bytes) -> Path:
    path = mirror / "tatoeba/cmn-eng.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_registry_entry_pins_origin_checksum_and_mirror_path():
    (file,) = data.REGISTRY["tatoeba_cmn"].files
    assert file.path == "tatoeba/cmn-eng.txt" and file.url.startswith("https://")
    assert file.sha256 == "aa264a2447b26ab7c9d413f8321f9e2a779fd134b5118306b6e26a3499b3926e"
    assert "CC BY 2.0 FR" in data.REGISTRY["tatoeba_cmn"].source
    assert data.REGISTRY["tatoeba_cmn"].loader is data.load_tatoeba_cmn


def test_parser_strips_bom_and_skips_the_empty_last_line(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    write(mirror, GOOD)
    with pytest.warns(UserWarning):  # not the pinned checksum: used as a trusted mirror file, with a warning
        english, chinese, attribution = data.load_tatoeba_cmn()
    assert english.tolist() == ["Hi.", "Run.", "Run.", "Wait!"]  # no "\ufeffHi."
    assert chinese.tolist() == ["嗨。", "你用跑的。", "跑。", "等等！"]
    assert attribution[0].startswith("CC-BY 2.0 (France)") and len(attribution) == 4


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t.replace("Run.\t跑。\t", "Run. 跑。\t"),  # a lost tab: two fields
        lambda t: t.replace("\t等等！", "\t等等！\textra"),  # four fields
        lambda t: t.replace("\t嗨。\t", "\t\t"),  # an empty Chinese field
    ],
)
def test_malformed_line_is_a_data_error_naming_the_file_and_line(dirs, monkeypatch, damage):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    path = write(mirror, damage(GOOD))
    with pytest.warns(UserWarning), pytest.raises(DataError) as err:
        data.load_tatoeba_cmn()
    message = str(err.value)
    assert str(path) in message and "line " in message and "Fix:" in message and "fetch tatoeba_cmn" in message
    assert path.exists()  # the user's file stays


def test_invalid_utf8_and_empty_file_are_data_errors(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    path = write(mirror, GOOD.encode("utf-8").replace("跑".encode(), b"\xff\xfe\xfd"))
    with pytest.warns(UserWarning), pytest.raises(DataError, match="UnicodeDecodeError") as err:
        data.load_tatoeba_cmn()
    assert str(path) in str(err.value)
    write(mirror, "\ufeff\n")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no sentence pairs"):
        data.load_tatoeba_cmn()


def test_missing_file_offline_names_file_places_and_fix(dirs, monkeypatch):
    mirror, cache = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        data.load_tatoeba_cmn()
    message = str(err.value)
    for part in ("tatoeba/cmn-eng.txt", str(mirror / "tatoeba/cmn-eng.txt"), str(cache / "tatoeba/cmn-eng.txt"),
                 "DLUTILS_OFFLINE", "Fix:", "raw.githubusercontent.com"):  # fmt: skip
        assert part in message


def test_split_by_sentence_keeps_every_sentence_in_one_split():
    sentences = np.array(["a", "b", "a", "c", "d", "b", "e", "a"], dtype=object)
    train, val, test = data.split_by_sentence(sentences, n_test=2, n_val=1, seed=3)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(sentences)))
    sets = [set(sentences[i]) for i in (train, val, test)]
    assert len(sets[2]) == 2 and len(sets[1]) == 1 and len(sets[0]) == 2
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    again = data.split_by_sentence(sentences, n_test=2, n_val=1, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again, strict=True))  # deterministic
    with pytest.raises(ValueError, match="distinct"):
        data.split_by_sentence(sentences, n_test=5, n_val=1)


MIRROR = os.environ.get("DLUTILS_DATA_DIR")
needs_mirror = pytest.mark.skipif(
    not MIRROR or not (Path(MIRROR) / "tatoeba/cmn-eng.txt").is_file(), reason="DLUTILS_DATA_DIR mirror not available"
)


@needs_mirror
def test_real_mirror_tatoeba(recwarn):
    english, chinese, attribution = data.load_tatoeba_cmn()
    assert not [w for w in recwarn if "sha256" in str(w.message)]  # the mirror file is the pinned origin file
    assert len(english) == len(chinese) == len(attribution) == 29155
    assert (english[0], chinese[0]) == ("Hi.", "嗨。")  # BOM stripped
    assert not any("\ufeff" in s for s in (*english[:3], *chinese[:3]))
    assert len(set(english)) == 27661
    assert all(a.startswith("CC-BY 2.0 (France) Attribution: tatoeba.org #") for a in attribution)
    train, val, test = data.split_by_sentence(english, n_test=2000, n_val=1000, seed=0)
    assert len(train) + len(val) + len(test) == 29155
    assert len(set(english[test])) == 2000 and len(set(english[val])) == 1000
    assert not set(english[train]) & set(english[test]) and not set(english[train]) & set(english[val])
    assert not set(english[val]) & set(english[test])


@needs_mirror
def test_corrupted_copy_of_the_real_file_is_a_data_error(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    lines = (Path(MIRROR) / "tatoeba/cmn-eng.txt").read_bytes().split(b"\n")
    lines[1000] = lines[1000].replace(b"\t", b" ", 1)  # line 1001 loses its first tab
    path = write(mirror, b"\n".join(lines))
    with pytest.warns(UserWarning, match="sha256"), pytest.raises(DataError) as err:
        data.load_tatoeba_cmn()
    assert str(path) in str(err.value) and "line 1001" in str(err.value)
