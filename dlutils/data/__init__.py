"""Datasets: one registry, a verified download/cache layer, and loaders that return NumPy or pandas.

Where a file is looked for, in order:

1. the local mirror ``$DLUTILS_DATA_DIR`` (laid out like ``shared/datasets``: ``mnist.npz``,
   ``fashion-mnist/…``, ``titanic/train.csv``, …), for machines behind a firewall or offline;
2. the cache (``$DLUTILS_CACHE_DIR``, by default the project's ``data/`` folder);
3. a download from the origin URL, with a progress bar, written atomically (temporary file, then
   rename) and verified against the pinned SHA-256 of the origin file.

Anything that goes wrong raises one :class:`DataError` that names the file, every place looked and
the fix; when several files of a dataset are missing, one error names them all. A file that cannot be
decompressed or parsed (damaged gzip/zip/tar/npz/CSV) is a :class:`DataError` too, never a raw
``zlib.error``. Nothing a user placed is ever deleted: a cached file with a wrong checksum is reported,
not removed (unlike ``keras.utils.get_file``).

``python -m dlutils.data list|verify|fetch`` lists, checks and builds a mirror (see ``dlutils/data/cli.py``).

>>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP
>>> df = load_titanic()  # doctest: +SKIP
>>> english, chinese, attribution = load_tatoeba_cmn()  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import lzma
import os
import re
import shutil
import struct
import tarfile
import tempfile
import tokenize
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .. import config

__all__ = [
    "DataError",
    "MissingFileError",
    "RemoteFile",
    "Dataset",
    "REGISTRY",
    "locate",
    "find_local",
    "download",
    "sha256_of",
    "safe_extract_tar",
    "imdb_dir",
    "load_mnist",
    "load_fashion_mnist",
    "load_imdb_reviews",
    "load_titanic",
    "load_beijing_pm25",
    "load_melbourne_temperatures",
    "load_tatoeba_cmn",
    "split_by_sentence",
    "FASHION_MNIST_CLASSES",
]


class DataError(RuntimeError):
    """A dataset file is missing, failed to download, has the wrong checksum or cannot be parsed."""


class MissingFileError(DataError):
    """A dataset file was found nowhere (and could not be downloaded); ``looked`` lists every place tried."""

    def __init__(self, message: str, file: RemoteFile, looked: list[str]) -> None:
        super().__init__(message)
        self.file = file
        self.looked = looked


# What decompressing or parsing a damaged file can raise: zlib/gzip/zip/tar/xz containers, NumPy's .npy
# header (parsed with tokenize/ast), CSV readers. UnicodeDecodeError and pandas' errors are ValueErrors,
# gzip.BadGzipFile an OSError; zipfile raises RuntimeError/NotImplementedError for a flipped flag byte.
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, KeyError, IndexError, TypeError, RuntimeError, struct.error, zlib.error,
    zipfile.BadZipFile, tarfile.TarError, lzma.LZMAError, csv.Error, tokenize.TokenError, SyntaxError,
)  # fmt: skip


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    ``path`` is where it lives inside the mirror and the cache; ``url`` and ``sha256`` describe the
    origin file that a download fetches. ``alt_names`` are other names accepted in the mirror or cache
    (e.g. the labeled subset of aclImdb); ``known_sha256`` maps checksums of known repackaged copies
    (such as the offline mirror's) to a note saying what they are.
    """

    path: str
    url: str
    sha256: str
    alt_names: tuple[str, ...] = ()
    known_sha256: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.path, *self.alt_names)

    def accepts(self, digest: str) -> bool:
        return digest == self.sha256 or digest in self.known_sha256


@dataclass(frozen=True)
class Dataset:
    """A registry entry: a name, its files, a citation/licence line and the loader that parses it."""

    name: str
    files: tuple[RemoteFile, ...]
    source: str
    loader: Callable[..., object]


FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Locating, downloading and verifying files


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fix_hint(file: RemoteFile, mirror: Path | None, cache: Path) -> str:
    if mirror is not None:
        where = f"{mirror / file.path} (your mirror, $DLUTILS_DATA_DIR)"
    else:
        where = f"<folder>/{file.path} and set DLUTILS_DATA_DIR=<folder> (a local mirror)"
    also = f" (accepted names: {', '.join(file.names)})" if file.alt_names else ""
    dataset = _dataset_of(file)
    fetch = (
        f" (`python -m dlutils.data fetch {dataset} --to <folder>` on a machine with internet does this)"
        if dataset else ""
    )
    return (
        f"Fix: on a machine with internet, download {file.url} (sha256 {file.sha256}) and put it at "
        f"{where}{fetch}, or at {cache / file.path} (the cache){also}; or, when online, unset DLUTILS_OFFLINE "
        "so that dlutils downloads it."
    )


def _dataset_of(file: RemoteFile) -> str | None:
    """The registry name of the dataset that ``file`` belongs to, or None."""
    for name, dataset in REGISTRY.items():
        if file in dataset.files:
            return name
    return None


def find_local(file: RemoteFile, base: Path | str | None) -> Path | None:
    """The first of ``file``'s accepted names that exists as a file in ``base``, without checking it; or None."""
    if base is None:
        return None
    for name in file.names:
        candidate = Path(base) / name
        if candidate.is_file():
            return candidate
    return None


def locate(
    file: RemoteFile,
    *,
    mirror: Path | str | None = None,
    cache: Path | str | None = None,
    allow_download: bool | None = None,
    progress: bool = True,
) -> Path:
    """Return a local path to ``file``: from the mirror, else the cache, else a verified download.

    ``mirror``, ``cache`` and ``allow_download`` default to the environment settings
    (``DLUTILS_DATA_DIR``, ``DLUTILS_CACHE_DIR``, not ``DLUTILS_OFFLINE``).
    """
    mirror = Path(mirror) if mirror is not None else config.data_dir()
    cache = Path(cache) if cache is not None else config.cache_dir()
    if allow_download is None:
        allow_download = not config.offline()
    looked: list[str] = []

    if mirror is not None:
        if not mirror.is_dir():
            looked.append(f"mirror DLUTILS_DATA_DIR={mirror}: not a directory")
        for name in file.names:
            candidate = mirror / name
            if candidate.is_file():
                digest = sha256_of(candidate)
                if not file.accepts(digest):
                    warnings.warn(
                        f"{candidate} has sha256 {digest}, which is neither the origin's ({file.sha256}) nor a "
                        "known mirror copy's; using it as a trusted mirror file (the parser still checks it).",
                        stacklevel=2,
                    )
                return candidate
            if mirror.is_dir():
                looked.append(f"mirror: {candidate} (not found)")
    else:
        looked.append("mirror: DLUTILS_DATA_DIR is not set")

    for name in file.names:
        candidate = cache / name
        if candidate.is_file():
            digest = sha256_of(candidate)
            if file.accepts(digest):
                return candidate
            raise DataError(
                f"Checksum mismatch for {candidate}: sha256 {digest}, expected {file.sha256} (origin {file.url}).\n"
                "The file was left in place. If it is a copy you trust, move it into your mirror directory "
                "(DLUTILS_DATA_DIR); otherwise delete it and run again to download a fresh copy."
            )
        looked.append(f"cache: {candidate} (not found)")

    target = cache / file.path
    if not allow_download:
        looked.append(f"download: {file.url} (skipped: downloads are off, DLUTILS_OFFLINE=1)")
        raise MissingFileError(_missing_message(file, looked, mirror, cache), file, looked)
    try:
        return download(file.url, target, file.sha256, progress=progress)
    except DataError as err:
        looked.append(f"download: {file.url} ({err})")
        raise MissingFileError(_missing_message(file, looked, mirror, cache), file, looked) from err


def _locate_dataset(name: str, needed: tuple[RemoteFile, ...] | None = None) -> list[Path]:
    """Locate the ``needed`` files of dataset ``name`` (default: all); on failure raise one DataError that
    names every missing or bad file of the dataset, not just the first (so one run tells the whole story)."""
    files = REGISTRY[name].files
    needed = files if needed is None else needed
    paths: list[Path] = []
    errors: list[DataError] = []
    for file in needed:
        try:
            paths.append(locate(file))
        except DataError as err:
            errors.append(err)
    if not errors:
        return paths
    mirror, cache = config.data_dir(), config.cache_dir()
    others = [f for f in files if f not in needed and find_local(f, mirror) is None and find_local(f, cache) is None]
    if len(errors) == 1 and not others:
        raise errors[0]
    missing = [e for e in errors if isinstance(e, MissingFileError)]
    lines = [f"Dataset {name!r}: {len(errors) + len(others)} of its {len(files)} files are missing or bad."]
    for err in errors:
        if isinstance(err, MissingFileError):
            lines.append(f"- missing {err.file.path!r} (origin {err.file.url}, sha256 {err.file.sha256}); looked in:")
            lines += [f"    - {place}" for place in err.looked]
        else:
            lines.append(f"- {err}")
    for f in others:
        lines.append(f"- also missing (not needed for this call) {f.path!r} (origin {f.url}, sha256 {f.sha256})")
    if missing or others:
        where = f"{mirror} (your mirror, $DLUTILS_DATA_DIR)" if mirror is not None else "<folder>"
        lines.append(
            f"Fix: on a machine with internet run `python -m dlutils.data fetch {name} --to <folder>`, which "
            f"downloads and verifies every file above, and copy the folder's contents to {where}"
            f"{'' if mirror is not None else ' and set DLUTILS_DATA_DIR=<folder>'}; or download each file from "
            f"its origin into the cache {cache} (same relative paths); or, when online, unset DLUTILS_OFFLINE so "
            "that dlutils downloads them."
        )
    raise DataError("\n".join(lines)) from errors[0]


def _missing_message(file: RemoteFile, looked: list[str], mirror: Path | None, cache: Path) -> str:
    places = "\n".join(f"  - {line}" for line in looked)
    return f"Cannot find dataset file {file.path!r}. Looked in:\n{places}\n{_fix_hint(file, mirror, cache)}"


def download(url: str, target: Path | str, sha256: str, *, progress: bool = True, timeout: float = 30) -> Path:
    """Download ``url`` to ``target`` atomically, verifying its SHA-256; return ``target``.

    The bytes go to a temporary file beside ``target``, which is renamed into place only once the
    size and checksum are right; on any failure the temporary file is removed and ``target`` is
    untouched. Raises :class:`DataError` with the reason.
    """
    from tqdm import tqdm

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        try:
            response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (http, https, file)
        except urllib.error.HTTPError as err:
            raise DataError(f"HTTP {err.code} {err.reason} from {url}") from err
        except (urllib.error.URLError, OSError) as err:
            raise DataError(f"cannot reach {url}: {getattr(err, 'reason', err)}") from err
        with response, os.fdopen(fd, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            digest = hashlib.sha256()
            received = 0
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"Downloading {target.name}", disable=not progress, leave=False,
            ) as bar:  # fmt: skip
                while True:
                    try:
                        block = response.read(1 << 16)
                    except (OSError, ValueError) as err:  # connection reset, http.client.IncompleteRead
                        raise DataError(f"download of {url} broke off after {received} bytes: {err}") from err
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
        if total is not None and received != total:
            raise DataError(f"download of {url} is truncated: {received} of {total} bytes")
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}, expected {sha256} "
                "(the server sent a different or damaged file)"
            )
        os.replace(tmp, target)
        return target
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
        tmp.unlink(missing_ok=True)


def _files(name: str) -> tuple[RemoteFile, ...]:
    return REGISTRY[name].files


def _parse_error(path: Path, file: RemoteFile, err: BaseException) -> DataError:
    dataset = _dataset_of(file)
    fetch = f", or `python -m dlutils.data fetch {dataset} --to <folder>` on a machine with internet" if dataset else ""
    return DataError(
        f"Cannot parse {path} as {file.path}: {type(err).__name__}: {err}.\n"
        f"The file is damaged, truncated or not the expected format. Fix: replace it with a fresh copy of "
        f"{file.url} (sha256 {file.sha256}){fetch}; `python -m dlutils.data verify` checks every dataset file "
        "of your mirror and cache."
    )


# ---------------------------------------------------------------------------------------------
# Archives


def safe_extract_tar(
    archive: Path | str, dest: Path | str, keep: Callable[[str], bool] = lambda name: True
) -> list[Path]:
    """Extract the regular files of a tar archive whose names pass ``keep`` into ``dest``.

    Every member is checked first: absolute names, ``..`` components, links and device files raise
    :class:`DataError` and nothing is written. Returns the extracted paths.
    """
    archive, dest = Path(archive), Path(dest)
    root = dest.resolve()
    written: list[Path] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                target = (root / m.name).resolve()
                if PurePosixPath(m.name).is_absolute() or ".." in PurePosixPath(m.name).parts or not (
                    target == root or root in target.parents
                ):
                    raise DataError(f"Unsafe archive {archive}: member {m.name!r} would be written outside {dest}")
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"Unsafe archive {archive}: member {m.name!r} is a link or special file")
            for m in members:
                if not m.isfile() or not keep(m.name):
                    continue
                target = root / m.name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(m)
                assert source is not None
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                written.append(target)
    except DataError:
        raise
    except _PARSE_ERRORS as err:
        raise DataError(
            f"Cannot read archive {archive}: {type(err).__name__}: {err}. The file is truncated or damaged; "
            "replace it with a fresh copy."
        ) from err
    return written


_IMDB_MEMBER = re.compile(r"^aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt$")


def _imdb_complete(directory: Path) -> bool:
    return all(any((directory / s / c).glob("*.txt")) for s in ("train", "test") for c in ("pos", "neg"))


def imdb_dir() -> Path:
    """Directory ``aclImdb/`` with ``{train,test}/{pos,neg}/<id>_<rating>.txt``, extracting once if needed.

    Uses an extracted copy in the mirror or cache when there is one; otherwise extracts the archive
    (origin ``aclImdb_v1.tar.gz`` or the mirror's labeled subset) safely into the cache, into a
    temporary folder first so that an interrupted run leaves no half-extracted directory.
    """
    mirror, cache = config.data_dir(), config.cache_dir()
    for base in (mirror, cache):
        if base is not None and (base / "aclImdb").is_dir():
            if _imdb_complete(base / "aclImdb"):
                return base / "aclImdb"
            raise DataError(
                f"{base / 'aclImdb'} exists but lacks train/test × pos/neg review files. It was left in place: "
                "complete it, or remove it so that the archive is extracted again."
            )
    (file,) = _files("imdb_reviews")
    (archive,) = _locate_dataset("imdb_reviews")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".aclImdb.", dir=cache))
    try:
        try:
            written = safe_extract_tar(archive, tmp, keep=lambda name: bool(_IMDB_MEMBER.match(name)))
        except DataError as err:
            raise DataError(f"{err}\nFix: replace {archive} with a fresh copy of {file.url} (sha256 {file.sha256}), "
                            "or run `python -m dlutils.data fetch imdb_reviews --to <folder>` on a machine with "
                            "internet.") from err  # fmt: skip
        if not written or not _imdb_complete(tmp / "aclImdb"):
            raise _parse_error(archive, file, ValueError("holds no aclImdb/{train,test}/{pos,neg}/*.txt reviews"))
        os.replace(tmp / "aclImdb", cache / "aclImdb")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache / "aclImdb"


# ---------------------------------------------------------------------------------------------
# Loaders

Split = tuple[np.ndarray, np.ndarray]


def load_mnist() -> tuple[Split, Split]:
    """MNIST digits as ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28), uint8 labels."""
    (file,) = _files("mnist")
    (path,) = _locate_dataset("mnist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except _PARSE_ERRORS as err:
        raise _parse_error(path, file, err) from err
    _check_images(path, file, arrays["x_train"], arrays["y_train"])
    _check_images(path, file, arrays["x_test"], arrays["y_test"])
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _check_images(path: Path, file: RemoteFile, x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
        raise _parse_error(path, file, ValueError(f"unexpected shapes images {x.shape}, labels {y.shape}"))


def _read_idx(path: Path, file: RemoteFile, magic: int, ndim: int) -> np.ndarray:
    """Read a gzipped IDX file (the format of MNIST and Fashion-MNIST)."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        header = np.frombuffer(raw[:4], dtype=">u4")[0] if len(raw) >= 4 else None
        if header != magic:
            raise ValueError(f"IDX magic number is {header}, expected {magic}")
        dims = np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4").astype(int)
        if len(dims) != ndim:
            raise ValueError("IDX header is cut short")
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        if data.size != int(np.prod(dims)):
            raise ValueError(f"IDX body has {data.size} bytes, header says {int(np.prod(dims))}")
        return data.reshape(dims)
    except _PARSE_ERRORS as err:  # zlib.error for a flipped byte, BadGzipFile/EOFError for a cut one, …
        raise _parse_error(path, file, err) from err


def load_fashion_mnist() -> tuple[Split, Split]:
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``; class names in ``FASHION_MNIST_CLASSES``."""
    f_xtr, f_ytr, f_xte, f_yte = _files("fashion_mnist")
    p_xtr, p_ytr, p_xte, p_yte = _locate_dataset("fashion_mnist")  # one error naming every missing file
    x_train = _read_idx(p_xtr, f_xtr, 2051, 3)
    y_train = _read_idx(p_ytr, f_ytr, 2049, 1)
    x_test = _read_idx(p_xte, f_xte, 2051, 3)
    y_test = _read_idx(p_yte, f_yte, 2049, 1)
    for x, y, f in ((x_train, y_train, f_ytr), (x_test, y_test, f_yte)):
        if len(x) != len(y):
            raise DataError(f"{f.path}: {len(y)} labels for {len(x)} images")
    return (x_train, y_train), (x_test, y_test)


def load_imdb_reviews() -> tuple[Split, Split]:
    """The IMDB reviews as raw text: ``(texts_train, y_train), (texts_test, y_test)``.

    Texts are a NumPy array of ``str`` (as written, ``<br />`` included); labels are 1 for positive
    (rating ≥ 7) and 0 for negative (≤ 4). 25,000 reviews per split, ordered neg then pos by file id.
    """
    root = imdb_dir()

    def read(split: str) -> Split:
        texts, labels = [], []
        for label, folder in ((0, "neg"), (1, "pos")):
            files = sorted((root / split / folder).glob("*.txt"), key=lambda p: int(p.stem.split("_")[0]))
            for p in files:
                try:
                    texts.append(p.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError) as err:
                    raise DataError(
                        f"Cannot read review {p}: {type(err).__name__}: {err}. Fix: replace the extracted folder "
                        f"{root} (move it aside; it is then extracted again from the archive), or restore the file."
                    ) from err
                labels.append(label)
        return np.array(texts, dtype=object), np.array(labels, dtype=np.int64)

    return read("train"), read("test")


_TITANIC_COLUMNS = [
    "PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch", "Ticket", "Fare", "Cabin", "Embarked",
]  # fmt: skip


def _read_csv(file: RemoteFile, required: list[str], **kwargs: object) -> tuple[pd.DataFrame, Path]:
    dataset = _dataset_of(file)
    (path,) = _locate_dataset(dataset, (file,)) if dataset else (locate(file),)
    try:
        df = pd.read_csv(path, **kwargs)  # type: ignore[arg-type]
    except _PARSE_ERRORS as err:  # ParserError, EmptyDataError, UnicodeDecodeError (ValueErrors), csv.Error, …
        raise _parse_error(path, file, err) from err
    missing = [c for c in required if c not in df.columns]
    if missing or df.empty:
        raise _parse_error(path, file, ValueError(f"missing columns {missing}" if missing else "no rows"))
    return df, path


def load_titanic(split: str = "train") -> pd.DataFrame:
    """The Kaggle Titanic passengers as a DataFrame: ``split="train"`` (891 rows, with ``Survived``)
    or ``"test"`` (418 rows, without labels)."""
    files = {f.path.split("/")[-1].removesuffix(".csv"): f for f in _files("titanic")}
    if split not in files:
        raise ValueError(f"split must be one of {sorted(files)}, not {split!r}")
    required = [c for c in _TITANIC_COLUMNS if split == "train" or c != "Survived"]
    return _read_csv(files[split], required)[0]


def load_beijing_pm25() -> pd.DataFrame:
    """Beijing PM2.5 hourly readings 2010–2014 with a DatetimeIndex (43,824 rows; ``pm2.5`` has NaNs).

    Columns: ``pm2.5`` (µg/m³), ``DEWP`` dew point (°C), ``TEMP`` (°C), ``PRES`` (hPa), ``cbwd`` combined
    wind direction (NE, NW, SE, cv = calm/variable), ``Iws`` cumulated wind speed (m/s), ``Is``/``Ir``
    cumulated hours of snow/rain.
    """
    (file,) = _files("beijing_pm25")
    cols = ["year", "month", "day", "hour", "pm2.5", "DEWP", "TEMP", "PRES", "cbwd", "Iws", "Is", "Ir"]
    df, path = _read_csv(file, cols)
    try:
        df.index = pd.to_datetime(df[["year", "month", "day", "hour"]])
    except _PARSE_ERRORS as err:  # a damaged digit: "Unable to parse string '2O10'", an impossible date
        raise _parse_error(path, file, err) from err
    df.index.name = "time"
    return df.drop(columns=["No", "year", "month", "day", "hour"], errors="ignore")


def load_melbourne_temperatures() -> pd.Series:
    """Daily minimum temperature (°C) in Melbourne, 1981–1990, as a Series indexed by date (3,650 days)."""
    (file,) = _files("melbourne_temperatures")
    df, path = _read_csv(file, ["Date", "Temp"])
    try:
        index = pd.to_datetime(df["Date"], format="%Y-%m-%d")
        values = pd.to_numeric(df["Temp"])
    except _PARSE_ERRORS as err:
        raise _parse_error(path, file, err) from err
    return pd.Series(values.to_numpy(), index=pd.DatetimeIndex(index, name="date"), name="temp")


def load_tatoeba_cmn() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """English–Chinese (Mandarin) sentence pairs from the Tatoeba Project: ``english, chinese, attribution``.

    Three aligned NumPy arrays of ``str`` in file order (sorted by English length: ``"Hi."`` → ``"嗨。"`` first).
    The file is ``English<TAB>Chinese<TAB>attribution`` per line (29,155 pairs in the mirror copy), UTF-8 with a
    byte-order mark before the first line, which is removed; empty lines are skipped. One English sentence can
    have several translations (27,661 distinct English sentences), so split with :func:`split_by_sentence`.
    Licence CC BY 2.0 FR: each pair's ``attribution`` names its Tatoeba sentence ids and contributors.

    >>> english, chinese, attribution = load_tatoeba_cmn()  # doctest: +SKIP
    >>> english[0], chinese[0]  # doctest: +SKIP
    ('Hi.', '嗨。')

    A line without exactly three non-empty tab-separated fields (or bytes that are not UTF-8) raises
    :class:`DataError` naming the file and the line.
    """
    (file,) = _files("tatoeba_cmn")
    (path,) = _locate_dataset("tatoeba_cmn")
    english: list[str] = []
    chinese: list[str] = []
    attribution: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # utf-8-sig drops the BOM
            for number, line in enumerate(f, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) != 3 or not all(x.strip() for x in fields):
                    raise ValueError(
                        f"line {number} has {len(fields)} tab-separated fields (expected 3 non-empty: "
                        f"English, Chinese, attribution): {line[:80]!r}"
                    )
                english.append(fields[0].strip())
                chinese.append(fields[1].strip())
                attribution.append(fields[2].strip())
    except _PARSE_ERRORS as err:  # UnicodeDecodeError for damaged bytes, our ValueError for a bad line
        raise _parse_error(path, file, err) from err
    if not english:
        raise _parse_error(path, file, ValueError("no sentence pairs"))
    as_array = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    return as_array(english), as_array(chinese), as_array(attribution)


def split_by_sentence(
    sentences: np.ndarray | list[str], n_test: int, n_val: int = 0, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split rows into ``train, val, test`` index arrays so that equal ``sentences`` never sit in two splits.

    ``n_test`` and ``n_val`` count *distinct* sentences (each brings all its rows, e.g. every translation of
    one English sentence); the rest is training. The distinct sentences are shuffled with ``seed``; each
    returned index array is sorted.

    >>> train, val, test = split_by_sentence(["a", "b", "a", "c"], n_test=1, seed=0)
    >>> sorted(map(len, (train, val, test)))
    [0, 1, 3]
    """
    keys = np.asarray(sentences, dtype=object)
    distinct, group = np.unique(keys.astype(str), return_inverse=True)
    if n_test < 0 or n_val < 0 or n_test + n_val > len(distinct):
        raise ValueError(f"n_test={n_test} and n_val={n_val} must be >= 0 and sum to at most {len(distinct)} "
                         "distinct sentences")  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(distinct))
    role = np.zeros(len(distinct), dtype=np.int8)  # 0 train, 1 val, 2 test
    role[order[:n_test]] = 2
    role[order[n_test : n_test + n_val]] = 1
    rows = role[group.ravel()]
    return tuple(np.flatnonzero(rows == r) for r in (0, 1, 2))  # type: ignore[return-value]


def load(name: str) -> object:
    """Load a dataset by registry name, e.g. ``load("titanic")``."""
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name].loader()


# ---------------------------------------------------------------------------------------------
# The registry

_TFK = "https://storage.googleapis.com/tensorflow/tf-keras-datasets"

REGISTRY: dict[str, Dataset] = {  # name -> files (origin URL, path, SHA-256), source, parser
    "mnist": Dataset(
        "mnist",
        (
            RemoteFile(
                "mnist.npz",
                f"{_TFK}/mnist.npz",
                "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
                known_sha256={
                    "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64": "offline mirror: "
                    "same arrays in a different zip container",
                },
            ),
        ),
        "MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0",
        load_mnist,
    ),
    "fashion_mnist": Dataset(
        "fashion_mnist",
        tuple(
            RemoteFile(f"fashion-mnist/{name}", f"{_TFK}/{name}", digest)
            for name, digest in [
                ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
                ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
                ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
                ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
            ]
        ),
        "Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando), MIT",
        load_fashion_mnist,
    ),
    "imdb_reviews": Dataset(
        "imdb_reviews",
        (
            RemoteFile(
                "aclImdb_v1.tar.gz",
                "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                alt_names=("aclImdb_v1_labeled.tar.gz",),
                known_sha256={
                    "fc132c2a23a4d23eec474b518907765dbc9c59e648c1e57ac8010670238ed697": "offline mirror: the "
                    "labeled part of the origin archive (no train/unsup, no *Bow.feat)",
                },
            ),
        ),
        "Large Movie Review Dataset v1.0 (Maas et al., ACL 2011)",
        load_imdb_reviews,
    ),
    "titanic": Dataset(
        "titanic",
        tuple(
            RemoteFile(
                f"titanic/{name}",
                f"https://raw.githubusercontent.com/minsuk-heo/kaggle-titanic/master/input/{name}",
                digest,
            )
            for name, digest in [
                ("train.csv", "7d118fef8b6ccf7f81111877bc388536f7b1e498a655e3d649d19aaa010e9f6f"),
                ("test.csv", "56023b9948236f3c7a1c9448fcf418b283e109ef177fa8c7e069158dd7dd52b2"),
            ]
        ),
        "Kaggle 'Titanic: Machine Learning from Disaster' (public copy of the competition files)",
        load_titanic,
    ),
    "beijing_pm25": Dataset(
        "beijing_pm25",
        (
            RemoteFile(
                "PRSA_data_2010.1.1-2014.12.31.csv",
                "https://archive.ics.uci.edu/ml/machine-learning-databases/00381/PRSA_data_2010.1.1-2014.12.31.csv",
                "4127f868775e31b3956522adc0ec75af8937dde6a3896e8beed3a376c6d27f1c",
            ),
        ),
        "Beijing PM2.5 (UCI 381, Liang et al. 2015), CC BY 4.0",
        load_beijing_pm25,
    ),
    "melbourne_temperatures": Dataset(
        "melbourne_temperatures",
        (
            RemoteFile(
                "daily-min-temperatures.csv",
                "https://raw.githubusercontent.com/jbrownlee/Datasets/master/daily-min-temperatures.csv",
                "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
            ),
        ),
        "Melbourne daily minimum temperatures 1981-1990 (Australian Bureau of Meteorology, via TSDL)",
        load_melbourne_temperatures,
    ),
    "tatoeba_cmn": Dataset(
        "tatoeba_cmn",
        (
            RemoteFile(
                "tatoeba/cmn-eng.txt",
                "https://raw.githubusercontent.com/13luoyu/Transformer-machine-translation/"
                "b172d4aa468126c16f51dbf75797aaff77cf787e/cmn.txt",
                "aa264a2447b26ab7c9d413f8321f9e2a779fd134b5118306b6e26a3499b3926e",
            ),
        ),
        "Tatoeba Project English-Chinese pairs (cmn-eng, as distributed by manythings.org/anki), CC BY 2.0 FR; "
        "per-line attribution",
        load_tatoeba_cmn,
    ),
}
