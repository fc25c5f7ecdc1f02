"""``knowloc explore RUN_OR_SWEEP_DIR [--out FILE] [--port N] [--no-serve]``."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import Sequence

from knowloc.errors import UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="knowloc explore",
        description="Build a self-contained HTML report of a run (or a sweep folder) from its local record "
                    "and serve it on localhost. No W&B, no network.")
    p.add_argument("path", metavar="RUN_OR_SWEEP_DIR", help="a run folder (with summary.json) or a sweep folder")
    p.add_argument("--out", default=None, help="where to write the report (default: RUN_OR_SWEEP_DIR/explore.html)")
    p.add_argument("--port", default="8765", help="port on 127.0.0.1 (0: a free port; default 8765)")
    p.add_argument("--no-serve", action="store_true", help="only write the report")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise UserError(f"--port={value!r} is not allowed; expected an integer in 0..65535 (0: a free port)")
    return port


def main(argv: Sequence[str] | None = None) -> None:
    from knowloc.explore.report import write_report

    args = _parser().parse_args(argv)
    try:
        port = _port(args.port)
        out = write_report(args.path, args.out)
        print(f"wrote {out}", flush=True)
        if args.no_serve:
            return
        from knowloc.explore.server import serve

        root = Path(args.path)
        try:
            server = serve(root.parent if root.is_file() else root, port, quiet=not args.verbose)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"--port={port} is already in use; choose another port, or --port 0 for a free one") from None
            raise UserError(f"--port={port}: cannot listen on 127.0.0.1 ({e.strerror or e})") from None
    except UserError as e:
        print(f"knowloc: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    print(f"serving {server.url}  (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
