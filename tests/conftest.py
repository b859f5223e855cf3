"""Fixtures: a loopback HTTP origin server and isolated data settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class Origin:
    """A real HTTP server on 127.0.0.1 that serves registered paths.

    ``add(path, body, status=200, declared_length=None)``: ``declared_length`` larger than the body
    makes the server promise more bytes than it sends and close the connection (a truncated download).
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, int | None]] = {}
        self.hits: list[str] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                origin.hits.append(self.path)
                status, body, declared = origin.routes.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(declared if declared is not None else len(body)))
                self.end_headers()
                self.wfile.write(body)
                if declared is not None:
                    self.close_connection = True

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, path: str, body: bytes, status: int = 200, declared_length: int | None = None) -> str:
        self.routes[path] = (status, body, declared_length)
        return self.url + path


@pytest.fixture
def origin() -> Iterator[Origin]:
    o = Origin()
    o.thread.start()
    try:
        yield o
    finally:
        o.server.shutdown()
        o.server.server_close()


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty mirror and cache, set through the real environment variables; downloads allowed."""
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    mirror.mkdir()
    cache.mkdir()
    monkeypatch.setenv("DLUTILS_DATA_DIR", str(mirror))
    monkeypatch.setenv("DLUTILS_CACHE_DIR", str(cache))
    monkeypatch.delenv("DLUTILS_OFFLINE", raising=False)
    return mirror, cache
