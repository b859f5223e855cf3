"""``python -m dlutils.data``: list the datasets, verify a mirror or the cache, build a mirror for an offline machine.

    python -m dlutils.data list                         # datasets, files, sizes, where each was found
    python -m dlutils.data verify                       # checksum every file the loaders would use
    python -m dlutils.data verify --dir /mnt/usb/ds     # checksum a mirror folder
    python -m dlutils.data fetch --all --to ~/ds-mirror # download + verify everything, laid out as a mirror
    python -m dlutils.data fetch mnist titanic --to ~/ds-mirror

``list`` and ``verify`` look where the loaders look (``$DLUTILS_DATA_DIR``, then the cache) unless ``--dir`` names a
folder. ``verify`` prints one line per file and exits with 1 when a file's checksum is neither the origin's nor a
known mirror copy's; files that are absent are listed and, when datasets are named (or ``--all``), also fail.
``fetch`` puts each file at ``DIR/<path>`` (default DIR: the cache): a verified copy from the mirror or cache is
copied, anything else is downloaded from its origin with a progress bar and verified; nothing already in DIR is
overwritten or deleted. Copy DIR to the machine without internet and set ``DLUTILS_DATA_DIR`` to it there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .. import config
from . import DataError, RemoteFile, download, find_local, sha256_of


def _registry() -> dict:
    """``dlutils.data.REGISTRY``, looked up at call time (so that a test may swap it)."""
    return sys.modules[__package__].REGISTRY


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _names(args: argparse.Namespace, *, default_all: bool) -> list[str]:
    registry = _registry()
    if args.all or (not args.names and default_all):
        return list(registry)
    unknown = [n for n in args.names if n not in registry]
    if unknown:
        raise SystemExit(f"error: unknown dataset(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    return list(dict.fromkeys(args.names))


def _places(folder: Path | None) -> list[tuple[str, Path]]:
    """Where to look: the folder given with --dir, else the loaders' order (mirror, then cache)."""
    if folder is not None:
        return [("dir", folder)]
    places = []
    mirror = config.data_dir()
    if mirror is not None:
        places.append(("mirror", mirror))
    places.append(("cache", config.cache_dir()))
    return places


def _find(file: RemoteFile, places: list[tuple[str, Path]]) -> tuple[str, Path] | None:
    for label, base in places:
        path = find_local(file, base)
        if path is not None:
            return label, path
    return None


def _header(places: list[tuple[str, Path]]) -> str:
    return "looking in: " + "; ".join(f"{label} {base}" for label, base in places)


def cmd_list(args: argparse.Namespace) -> int:
    places = _places(args.dir)
    print(_header(places))
    registry = _registry()
    present = total = 0
    for name in _names(args, default_all=True):
        dataset = registry[name]
        print(f"\n{name}: {dataset.source}")
        for file in dataset.files:
            total += 1
            found = _find(file, places)
            if found is None:
                also = f"  (also accepted: {', '.join(file.alt_names)})" if file.alt_names else ""
                print(f"  {file.path:<44} {'missing':>9}  {file.url}{also}")
                continue
            present += 1
            label, path = found
            print(f"  {file.path:<44} {_size(path.stat().st_size):>9}  {label}: {path}")
        if name == "imdb_reviews":
            for label, base in places:
                if (base / "aclImdb").is_dir():
                    print(f"  {'aclImdb/ (extracted, used first)':<44} {'':>9}  {label}: {base / 'aclImdb'}")
    print(f"\n{present} of {total} files present.")
    return 0


def _check(file: RemoteFile, path: Path) -> tuple[bool, str]:
    digest = sha256_of(path)
    if digest == file.sha256:
        return True, "origin's sha256"
    if digest in file.known_sha256:
        return True, f"known copy: {file.known_sha256[digest]}"
    return False, f"sha256 {digest}, expected {file.sha256} (origin {file.url})"


def cmd_verify(args: argparse.Namespace) -> int:
    places = _places(args.dir)
    print(_header(places))
    strict = bool(args.all or args.names)
    registry = _registry()
    bad = missing = ok = 0
    for name in _names(args, default_all=True):
        for file in registry[name].files:
            found = _find(file, places)
            if found is None:
                missing += 1
                print(f"{'MISSING' if strict else 'absent':<9} {file.path}")
                continue
            label, path = found
            good, note = _check(file, path)
            ok += good
            bad += not good
            print(f"{'ok' if good else 'MISMATCH':<9} {file.path}  {label}: {path}  ({note})")
    print(f"\n{ok} ok, {bad} mismatched, {missing} {'missing' if strict else 'absent'}.")
    if bad:
        print(
            "A mismatched file is damaged or a different copy: the loaders use a mirror file with a warning and "
            "refuse a cached one. Replace it (`python -m dlutils.data fetch NAME --to DIR` on a machine with "
            "internet); nothing was changed.",
            file=sys.stderr,
        )
    return 1 if bad or (strict and missing) else 0


def _copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def cmd_fetch(args: argparse.Namespace) -> int:
    if not args.all and not args.names:
        raise SystemExit("error: name the datasets to fetch, or --all (see `python -m dlutils.data list`)")
    dest = (args.to if args.to is not None else config.cache_dir()).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    sources = [(label, base) for label, base in _places(None) if base.resolve() != dest.resolve()]
    registry = _registry()
    failures: list[str] = []
    count = size = 0
    for name in _names(args, default_all=False):
        for file in registry[name].files:
            there = find_local(file, dest)
            if there is not None:
                good, note = _check(file, there)
                if not good:
                    failures.append(f"{there}: {note}; left in place (move it away to fetch a fresh copy)")
                    print(f"MISMATCH  {file.path}  {there}")
                    continue
                print(f"ok        {file.path}  already in {dest} ({note})")
            else:
                copied = None
                for label, base in sources:
                    path = find_local(file, base)
                    if path is not None and _check(file, path)[0]:
                        there = dest / path.relative_to(base)
                        _copy_atomically(path, there)
                        copied = f"copied from {label} {path}"
                        break
                if copied is None:
                    if config.offline():
                        failures.append(f"{file.path}: not in {dest} nor a verified local copy, and downloads are off "
                                        f"(DLUTILS_OFFLINE=1); origin {file.url}")  # fmt: skip
                        print(f"MISSING   {file.path}")
                        continue
                    try:
                        there = download(file.url, dest / file.path, file.sha256, progress=not args.quiet)
                    except DataError as err:
                        failures.append(f"{file.path}: {err}")
                        print(f"FAILED    {file.path}  ({err})")
                        continue
                    copied = f"downloaded from {file.url}, sha256 verified"
                print(f"ok        {file.path}  {copied}")
            assert there is not None
            count += 1
            size += there.stat().st_size
    print(f"\n{count} files, {_size(size)} in {dest}.")
    if failures:
        print(f"{len(failures)} file(s) could not be fetched:", file=sys.stderr)
        for line in failures:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print(f"Mirror ready: copy {dest} to the machine without internet and set DLUTILS_DATA_DIR to it there.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlutils.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command, helptext in (
        ("list", "datasets, their files, sizes and where each was found"),
        ("verify", "checksums of the files (one line each); exit 1 on a mismatch"),
        ("fetch", "download (or copy) and verify files into a folder laid out as a mirror"),
    ):
        p = sub.add_parser(command, help=helptext, description=helptext)
        p.add_argument("names", nargs="*", metavar="NAME", help="dataset names (default for list/verify: all)")
        p.add_argument("--all", action="store_true", help="every dataset in the registry")
        if command == "fetch":
            p.add_argument("--to", type=Path, help="the mirror folder to fill (default: the cache)")
            p.add_argument("--quiet", action="store_true", help="no progress bars")
        else:
            p.add_argument("--dir", type=Path, help="look only in this folder (default: $DLUTILS_DATA_DIR, then the cache)")
    args = parser.parse_args(argv)
    if getattr(args, "dir", None) is not None and not args.dir.is_dir():
        parser.error(f"--dir {args.dir}: not a directory")
    return {"list": cmd_list, "verify": cmd_verify, "fetch": cmd_fetch}[args.command](args)
