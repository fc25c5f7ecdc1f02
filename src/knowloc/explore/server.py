"""Serve the report on the loopback interface (``http.server``; nothing listens beyond 127.0.0.1).

Routes:
``/``              the report of the folder given to ``knowloc explore`` (rebuilt when its files change,
                   so a run in progress shows its latest record on reload)
``/?run=REL``      the report of a run (or sweep) folder ``REL`` inside that folder; the sweep page's
                   run links use it
``/file?path=REL`` a file inside that folder (images, CSV, JSON, text: figures too large to embed)
``/healthz``       ``ok``
Bad input (a missing folder, a damaged ``summary.json``, a path outside the served folder) gets an
error page with a readable message and a 4xx status; an unexpected failure gets a 500 page and the
server keeps serving.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from knowloc.errors import UserError
from knowloc.explore.overview import REPORT
from knowloc.explore.report import build, error_page, render
from knowloc.explore.target import RecordError, open_target

HOST = "127.0.0.1"
#: files ``/file`` serves (nothing executable, no checkpoints)
FILE_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".csv": "text/csv; charset=utf-8", ".json": "application/json", ".txt": "text/plain; charset=utf-8",
              ".log": "text/plain; charset=utf-8", ".yaml": "text/plain; charset=utf-8"}


def _signature(path: Path) -> tuple:
    """Changes whenever a file under ``path`` is added, removed or rewritten."""
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in ("wandb", ".hydra"))
        for f in sorted(filenames):
            if f == REPORT:
                continue
            try:
                st = os.stat(os.path.join(dirpath, f))
            except OSError:
                continue
            out.append((dirpath, f, st.st_mtime_ns, st.st_size))
    return tuple(out)


class ExploreServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: str | Path, port: int = 0, quiet: bool = True):
        self.root = Path(root).resolve()
        self.quiet = quiet
        self._cache: dict[Path, tuple[tuple, str]] = {}
        self._lock = threading.Lock()
        super().__init__((HOST, port), Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"

    def page(self, rel: str | None) -> tuple[int, str]:
        """(HTTP status, HTML) of the report of ``root/rel``."""
        path = (self.root / rel).resolve() if rel else self.root
        if path != self.root and self.root not in path.parents:
            return HTTPStatus.FORBIDDEN, error_page(
                f"run={rel!r} is outside the served folder {self.root}; expected a folder inside it", rel, 403)
        try:
            sig = _signature(path) if path.exists() else None
            with self._lock:
                cached = self._cache.get(path)
            if cached and cached[0] == sig:
                return HTTPStatus.OK, cached[1]
            data = build(open_target(path))
            data["link_base"] = str(path.relative_to(self.root)) if path != self.root else ""
            text = render(data, served=True)
            with self._lock:
                self._cache[path] = (sig, text)
            return HTTPStatus.OK, text
        except RecordError as e:
            return HTTPStatus.UNPROCESSABLE_ENTITY, error_page(str(e), str(path), 422)
        except UserError as e:
            return HTTPStatus.NOT_FOUND, error_page(str(e), str(path), 404)
        except Exception as e:  # keep serving; say what happened
            traceback.print_exc(file=sys.stderr)
            return HTTPStatus.INTERNAL_SERVER_ERROR, error_page(
                f"internal error while reading this folder: {type(e).__name__}: {e}", str(path), 500)


class Handler(BaseHTTPRequestHandler):
    server: ExploreServer
    server_version = "knowloc-explore"

    def _send(self, status: int, body: str, ctype: str = "text/html; charset=utf-8") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html", "/explore.html"):
            rel = parse_qs(url.query).get("run", [None])[0]
            status, body = self.server.page(rel)
            self._send(status, body)
        elif url.path == "/file":
            self._file(parse_qs(url.query).get("path", [""])[0])
        elif url.path == "/healthz":
            self._send(HTTPStatus.OK, "ok\n", "text/plain; charset=utf-8")
        elif url.path == "/favicon.ico":
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
        else:
            self._send(HTTPStatus.NOT_FOUND, error_page(f"no page {url.path!r}; the report is at /", None, 404))

    do_HEAD = do_GET

    def _file(self, rel: str) -> None:
        root = self.server.root
        path = (root / rel).resolve()
        ctype = FILE_TYPES.get(path.suffix.lower())
        if root not in path.parents or not path.is_file() or ctype is None:
            self._send(HTTPStatus.NOT_FOUND, error_page(
                f"path={rel!r}: no such file inside the served folder (or not a viewable type: "
                f"{', '.join(sorted(FILE_TYPES))})", None, 404))
            return
        data = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format, *args) -> None:  # noqa: A002
        if not self.server.quiet:
            super().log_message(format, *args)


def serve(root: str | Path, port: int = 0, quiet: bool = True) -> ExploreServer:
    """A bound server (not yet serving); call ``serve_forever()`` (or run it in a thread)."""
    return ExploreServer(root, port, quiet)
