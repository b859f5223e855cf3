"""The data layer, with real files: a temporary mirror/cache, a loopback HTTP origin, file:// URLs."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlutils import data
from dlutils.data import DataError, RemoteFile

BODY = b"hello, dataset\n" * 1000
DIGEST = hashlib.sha256(BODY).hexdigest()


def spec(url: str, path: str = "sub/file.bin", digest: str = DIGEST) -> RemoteFile:
    return RemoteFile(path, url, digest)


def no_part_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".part")]


# --- downloads --------------------------------------------------------------------------------


def test_download_from_loopback_writes_verified_file_with_progress(origin, dirs, capsys):
    mirror, cache = dirs
    url = origin.add("/file.bin", BODY)
    path = data.locate(spec(url))
    assert path == cache / "sub/file.bin"
    assert path.read_bytes() == BODY
    assert "Downloading file.bin" in capsys.readouterr().err  # tqdm progress bar
    assert no_part_files(cache)
    # second call: served from the cache, no new request
    assert data.locate(spec(url)) == path
    assert origin.hits == ["/file.bin"]


def test_download_from_file_url(tmp_path, dirs):
    source = tmp_path / "origin.bin"
    source.write_bytes(BODY)
    path = data.locate(spec(source.as_uri()), progress=False)
    assert path.read_bytes() == BODY


def test_checksum_mismatch_raises_and_leaves_nothing(origin, dirs):
    _, cache = dirs
    url = origin.add("/file.bin", b"something else entirely")
    with pytest.raises(DataError) as err:
        data.locate(spec(url), progress=False)
    message = str(err.value)
    assert "checksum mismatch" in message and DIGEST in message
    assert "sub/file.bin" in message and "DLUTILS_DATA_DIR" in message  # names the file and the fix
    assert not (cache / "sub/file.bin").exists()
    assert no_part_files(cache)


def test_truncated_download_raises(origin, dirs):
    _, cache = dirs
    url = origin.add("/file.bin", BODY[:5000], declared_length=len(BODY))
    with pytest.raises(DataError, match="truncated|broke off"):
        data.locate(spec(url), progress=False)
    assert not (cache / "sub/file.bin").exists()
    assert no_part_files(cache)


def test_404_names_every_place_looked_and_the_fix(origin, dirs):
    mirror, cache = dirs
    url = origin.add("/missing.bin", b"", status=404)
    with pytest.raises(DataError) as err:
        data.locate(spec(url), progress=False)
    message = str(err.value)
    assert "HTTP 404" in message
    assert str(mirror / "sub/file.bin") in message
    assert str(cache / "sub/file.bin") in message
    assert url in message
    assert "Fix:" in message


def test_offline_does_not_try_to_download(origin, dirs, monkeypatch):
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    url = origin.add("/file.bin", BODY)
    with pytest.raises(DataError, match="DLUTILS_OFFLINE"):
        data.locate(spec(url))
    assert origin.hits == []


def test_unreachable_origin(dirs):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="cannot reach"):
        data.locate(spec(f"http://127.0.0.1:{port}/file.bin"), progress=False)


# --- mirror, cache and never deleting ----------------------------------------------------------


def test_mirror_takes_precedence_over_cache_and_download(origin, dirs):
    mirror, cache = dirs
    url = origin.add("/file.bin", BODY)
    (mirror / "sub").mkdir()
    (mirror / "sub/file.bin").write_bytes(BODY)
    (cache / "sub").mkdir()
    (cache / "sub/file.bin").write_bytes(BODY)
    assert data.locate(spec(url)) == mirror / "sub/file.bin"
    assert origin.hits == []


def test_mirror_accepts_alternative_name_and_known_checksum(dirs):
    mirror, _ = dirs
    other = b"repackaged copy"
    f = RemoteFile(
        "a.tar.gz", "http://127.0.0.1:9/a.tar.gz", DIGEST,
        alt_names=("a_labeled.tar.gz",), known_sha256={hashlib.sha256(other).hexdigest(): "mirror copy"},
    )  # fmt: skip
    (mirror / "a_labeled.tar.gz").write_bytes(other)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a known checksum must not warn
        assert data.locate(f) == mirror / "a_labeled.tar.gz"


def test_unknown_mirror_file_is_trusted_with_a_warning(dirs):
    mirror, _ = dirs
    (mirror / "sub").mkdir()
    (mirror / "sub/file.bin").write_bytes(b"user's own copy")
    with pytest.warns(UserWarning, match="trusted mirror file"):
        path = data.locate(spec("http://127.0.0.1:9/x"))
    assert path.read_bytes() == b"user's own copy"


def test_cached_file_with_wrong_checksum_is_reported_not_deleted(origin, dirs):
    _, cache = dirs
    url = origin.add("/file.bin", BODY)
    (cache / "sub").mkdir()
    (cache / "sub/file.bin").write_bytes(b"a file the user put here")
    with pytest.raises(DataError, match="left in place"):
        data.locate(spec(url))
    assert (cache / "sub/file.bin").read_bytes() == b"a file the user put here"
    assert origin.hits == []


def test_failed_download_keeps_other_user_files(origin, dirs):
    _, cache = dirs
    (cache / "sub").mkdir()
    mine = cache / "sub/notes.txt"
    mine.write_text("mine")
    url = origin.add("/file.bin", b"wrong")
    with pytest.raises(DataError):
        data.locate(spec(url), progress=False)
    assert mine.read_text() == "mine"
    assert sorted(p.name for p in cache.rglob("*")) == ["notes.txt", "sub"]


# --- archives ----------------------------------------------------------------------------------


def make_tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


@pytest.mark.parametrize("bad", ["../escape.txt", "/tmp/absolute.txt", "ok/../../escape.txt"])
def test_archive_path_traversal_is_rejected_before_writing(tmp_path, bad):
    archive = make_tar(tmp_path / "evil.tar.gz", {"good/a.txt": b"a", bad: b"evil"})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(DataError, match="outside"):
        data.safe_extract_tar(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_archive_symlink_is_rejected(tmp_path):
    archive = make_tar(tmp_path / "link.tar.gz", {"a.txt": b"a"}, links={"link": "/etc/passwd"})
    with pytest.raises(DataError, match="link"):
        data.safe_extract_tar(archive, tmp_path / "out")


def test_truncated_archive_raises(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", {f"f{i}.txt": os.urandom(2000) for i in range(20)})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated or damaged"):
        data.safe_extract_tar(cut, tmp_path / "out")


def imdb_members(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    members = {}
    for split in ("train", "test"):
        for folder, rating in (("neg", 2), ("pos", 9)):
            for i in range(3):
                members[f"aclImdb/{split}/{folder}/{i}_{rating}.txt"] = f"{split} {folder} {i}<br />ok".encode()
    members.update(extra or {})
    return members


@pytest.mark.parametrize("name", ["aclImdb_v1.tar.gz", "aclImdb_v1_labeled.tar.gz"])
def test_imdb_loader_accepts_origin_and_labeled_archive(dirs, monkeypatch, name):
    mirror, cache = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    make_tar(mirror / name, imdb_members({"aclImdb/train/unsup/0_0.txt": b"unlabeled", "aclImdb/imdb.vocab": b"x"}))
    with pytest.warns(UserWarning, match="trusted mirror file"):
        (x_train, y_train), (x_test, y_test) = data.load_imdb_reviews()
    assert len(x_train) == len(x_test) == 6
    assert list(y_train) == [0, 0, 0, 1, 1, 1]
    assert x_train[0] == "train neg 0<br />ok"
    assert not (cache / "aclImdb/train/unsup").exists()  # unlabeled part skipped
    assert [p.name for p in cache.iterdir()] == ["aclImdb"]  # no temporary folder left


def test_incomplete_extracted_imdb_dir_is_reported_not_deleted(dirs):
    _, cache = dirs
    (cache / "aclImdb/train/pos").mkdir(parents=True)
    (cache / "aclImdb/train/pos/0_9.txt").write_text("only one")
    with pytest.raises(DataError, match="left in place"):
        data.imdb_dir()
    assert (cache / "aclImdb/train/pos/0_9.txt").exists()


# --- parsers with small real-format files --------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def write_fashion(mirror: Path, n: int = 12) -> None:
    rng = np.random.default_rng(0)
    folder = mirror / "fashion-mnist"
    folder.mkdir()
    for prefix in ("train", "t10k"):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(idx_bytes(rng.integers(0, 255, (n, 28, 28)), 2051))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_bytes(np.arange(n) % 10, 2049))


def test_fashion_mnist_parser(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    write_fashion(mirror)
    with pytest.warns(UserWarning):
        (x, y), (xt, yt) = data.load_fashion_mnist()
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8
    assert list(y[:10]) == list(range(10))


def test_truncated_idx_file_raises_naming_the_file(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    write_fashion(mirror)
    path = mirror / "fashion-mnist/train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.warns(UserWarning), pytest.raises(DataError) as err:
        data.load_fashion_mnist()
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    assert path.exists()  # the user's file stays


def test_mnist_parser_and_bad_file(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    z = np.zeros((5, 28, 28), np.uint8)
    np.savez_compressed(mirror / "mnist.npz", x_train=z, y_train=np.arange(5), x_test=z[:2], y_test=np.arange(2))
    with pytest.warns(UserWarning):
        (x, y), (xt, yt) = data.load_mnist()
    assert x.shape == (5, 28, 28) and len(yt) == 2
    (mirror / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="mnist.npz"):
        data.load_mnist()


def test_missing_file_offline_names_file_places_and_fix(dirs, monkeypatch):
    mirror, cache = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        data.load_titanic()
    message = str(err.value)
    for part in ("titanic/train.csv", str(mirror / "titanic/train.csv"), str(cache / "titanic/train.csv"),
                 "DLUTILS_OFFLINE", "Fix:", "raw.githubusercontent.com"):  # fmt: skip
        assert part in message


def test_csv_parsers_and_unparsable_csv(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    (mirror / "daily-min-temperatures.csv").write_text('"Date","Temp"\r\n"1981-01-01",20.7\r\n"1981-01-02",17.9')
    with pytest.warns(UserWarning):
        s = data.load_melbourne_temperatures()
    assert list(s) == [20.7, 17.9] and s.index[1] == pd.Timestamp("1981-01-02")
    (mirror / "titanic").mkdir()
    (mirror / "titanic/train.csv").write_text("not,a,titanic,file\n1,2,3,4\n")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="missing columns"):
        data.load_titanic()
    with pytest.raises(ValueError, match="split"):
        data.load_titanic("validation")


def test_unknown_dataset_name():
    with pytest.raises(KeyError, match="known"):
        data.load("cifar10")


# --- the real offline mirror (CI points DLUTILS_DATA_DIR at ../shared/datasets) --------------------

MIRROR = os.environ.get("DLUTILS_DATA_DIR")
needs_mirror = pytest.mark.skipif(
    not MIRROR or not (Path(MIRROR) / "mnist.npz").is_file(), reason="DLUTILS_DATA_DIR mirror not available"
)


@needs_mirror
def test_real_mirror_facts():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every mirror file has a known checksum
        (x, y), (xt, yt) = data.load_mnist()
        assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
        assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        (fx, fy), (fxt, fyt) = data.load_fashion_mnist()
        assert fy[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5] and np.bincount(fyt).tolist() == [1000] * 10
        t = data.load_titanic()
        assert t.shape == (891, 12) and t["Survived"].sum() == 342 and t["Age"].isna().sum() == 177
        assert data.load_titanic("test").shape == (418, 11)
        pm = data.load_beijing_pm25()
        assert len(pm) == 43824 and pm["pm2.5"].isna().sum() == 2067 and set(pm["cbwd"]) == {"NE", "NW", "SE", "cv"}
        assert (pm.index[1:] - pm.index[:-1]).unique().tolist() == [pd.Timedelta(hours=1)]
        m = data.load_melbourne_temperatures()
        assert len(m) == 3650 and pd.Timestamp("1984-12-31") not in m.index


@needs_mirror
def test_real_mirror_imdb():
    (x, y), (xt, yt) = data.load_imdb_reviews()
    assert len(x) == len(xt) == 25000 and y.sum() == yt.sum() == 12500
    assert sum("<br />" in t for t in x) + sum("<br />" in t for t in xt) == 29200


# --- damaged files: every decompression or parse failure is a DataError naming the file and the fix -----


def flipped(path: Path, position: int, good: bytes) -> None:
    damaged = bytearray(good)
    damaged[position] ^= 0x55
    path.write_bytes(bytes(damaged))


def assert_damage_is_data_error(path: Path, load, *, positions=None, cleanup=lambda: None) -> list[DataError]:
    """Flip one byte at each position in turn: the loader either still works (a harmless byte, e.g. a gzip
    timestamp) or raises a DataError that names the file and the fix; never a raw zlib.error or the like."""
    good = path.read_bytes()
    errors = []
    for position in positions or range(0, len(good), max(1, len(good) // 60)):
        flipped(path, position, good)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the damaged mirror file's unknown checksum
                load()
        except DataError as err:
            assert str(path) in str(err) and "Fix:" in str(err), str(err)
            errors.append(err)
        finally:
            cleanup()
    path.write_bytes(good)
    assert errors, "no damage was detected at all"
    return errors


def test_flipped_byte_in_fashion_mnist_gz_is_a_data_error(dirs, monkeypatch):
    """The reported case: one flipped byte in the deflate stream gave a raw zlib.error ('invalid code lengths')."""
    import zlib

    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    write_fashion(mirror, n=40)
    path = mirror / "fashion-mnist/train-images-idx3-ubyte.gz"
    images = (np.arange(40 * 784).reshape(40, 28, 28) // 97 % 7).astype(np.uint8)  # compressible: Huffman blocks
    path.write_bytes(idx_bytes(images, 2051))
    size = path.stat().st_size
    errors = assert_damage_is_data_error(path, data.load_fashion_mnist, positions=range(10, size - 8))
    assert any(isinstance(e.__cause__, zlib.error) for e in errors)
    assert all("fetch fashion_mnist" in str(e) and "damaged" in str(e) for e in errors)


@pytest.mark.parametrize("compressed", [True, False], ids=["npz-deflate", "npz-stored"])
def test_damaged_mnist_npz_is_a_data_error(dirs, monkeypatch, compressed):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    z = (np.arange(6 * 784).reshape(6, 28, 28) // 31 % 5).astype(np.uint8)
    save = np.savez_compressed if compressed else np.savez
    save(mirror / "mnist.npz", x_train=z, y_train=np.arange(6, dtype=np.uint8), x_test=z[:2], y_test=np.arange(2, dtype=np.uint8))
    errors = assert_damage_is_data_error(mirror / "mnist.npz", data.load_mnist)
    causes = {type(e.__cause__).__name__ for e in errors}
    assert "BadZipFile" in causes  # zip container damage (CRC, headers) …
    assert causes - {"BadZipFile"}  # … and others: zlib.error, a bad .npy header (ValueError, TokenError), …


def test_not_a_zip_at_all(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    (mirror / "mnist.npz").write_bytes(b"<html>a captive portal's login page</html>")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="Cannot parse .*mnist.npz") as err:
        data.load_mnist()
    assert "Fix:" in str(err.value)


def test_damaged_imdb_tar_gz_is_a_data_error(dirs, monkeypatch):
    mirror, cache = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    archive = make_tar(mirror / "aclImdb_v1.tar.gz", imdb_members())

    def cleanup():
        shutil.rmtree(cache / "aclImdb", ignore_errors=True)

    errors = assert_damage_is_data_error(archive, data.load_imdb_reviews, cleanup=cleanup)
    assert all("fetch imdb_reviews" in str(e) for e in errors)
    assert [p.name for p in cache.iterdir()] == []  # no half-extracted folder left behind


def test_damaged_csv_files_are_data_errors(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    (mirror / "titanic").mkdir()
    header = ",".join(data._TITANIC_COLUMNS)
    good = f'{header}\n1,0,3,"Braund, Mr. Owen Harris",male,22,1,0,A/5 21171,7.25,,S\n'.encode()
    (mirror / "titanic/train.csv").write_bytes(good.replace(b"Owen", b"Ow\xffn"))  # invalid UTF-8
    with pytest.warns(UserWarning), pytest.raises(DataError, match="UnicodeDecodeError") as err:
        data.load_titanic()
    assert str(mirror / "titanic/train.csv") in str(err.value) and "fetch titanic" in str(err.value)

    pm = "No,year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,Is,Ir\n1,2010,1,1,0,NA,-21,-11,1021,NW,1.79,0,0\n"
    path = mirror / "PRSA_data_2010.1.1-2014.12.31.csv"
    path.write_text(pm)
    with pytest.warns(UserWarning):
        assert len(data.load_beijing_pm25()) == 1
    path.write_text(pm.replace(",2010,", ",2O10,"))  # one damaged digit: the date cannot be assembled
    with pytest.warns(UserWarning), pytest.raises(DataError, match="Cannot parse .*PRSA") as err:
        data.load_beijing_pm25()
    assert "Fix:" in str(err.value)

    path = mirror / "daily-min-temperatures.csv"
    path.write_bytes(b'"Date","Temp"\n"1981-01-01",20.7\n"1981-0\x11-02",17.9\n')
    with pytest.warns(UserWarning), pytest.raises(DataError, match="daily-min-temperatures.csv"):
        data.load_melbourne_temperatures()


# --- a missing dataset names all its missing files in one error ---------------------------------


def test_missing_dataset_names_all_its_files_in_one_error(dirs, monkeypatch):
    mirror, cache = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        data.load_fashion_mnist()
    message = str(err.value)
    for file in data.REGISTRY["fashion_mnist"].files:
        assert file.path in message and file.url in message and str(mirror / file.path) in message
    assert "4 of its 4 files" in message and "fetch fashion_mnist --to" in message and "Fix:" in message


def test_missing_titanic_split_also_names_the_other_missing_split(dirs, monkeypatch):
    mirror, _ = dirs
    monkeypatch.setenv("DLUTILS_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        data.load_titanic("train")
    assert "titanic/train.csv" in str(err.value) and "also missing" in str(err.value) and "titanic/test.csv" in str(err.value)
    (mirror / "titanic").mkdir()
    header = ",".join(c for c in data._TITANIC_COLUMNS if c != "Survived")
    (mirror / "titanic/test.csv").write_text(f'{header}\n892,3,"Kelly, Mr. James",male,34.5,0,0,330911,7.8292,,Q\n')
    with pytest.warns(UserWarning):
        assert len(data.load_titanic("test")) == 1  # a present split loads although the other is missing
