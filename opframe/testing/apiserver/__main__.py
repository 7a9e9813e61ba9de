"""Run the embedded API server in the foreground: ``python -m opframe.testing.apiserver``.

    python -m opframe.testing.apiserver --state-dir DIR [--port N] [--plain-http]

Writes ``DIR/kubeconfig`` once it listens (and ``DIR/apiserver.pid``), keeps objects in
``DIR`` so a restart finds them, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from opframe.testing.apiserver.http.server import ApiServer

__all__ = ["main"]


def _prepare(args: argparse.Namespace) -> ApiServer:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    token_file = state_dir / "token"
    token = args.token or (token_file.read_text().strip() if token_file.exists() else None)
    server = ApiServer(tls=not args.plain_http, token=token, port=args.port, state_dir=state_dir)
    token_file.write_text(server.token)
    token_file.chmod(0o600)
    return server


async def _serve(args: argparse.Namespace) -> None:
    state_dir = Path(args.state_dir)
    server = _prepare(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        (state_dir / "apiserver.pid").write_text(str(os.getpid()))
        print(server.url, flush=True)
        await stop.wait()
    (state_dir / "apiserver.pid").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m opframe.testing.apiserver")
    parser.add_argument("--state-dir", required=True, help="kubeconfig, certificates, objects")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--token", default=None, help="bearer token (default: kept in DIR/token)")
    parser.add_argument("--plain-http", action="store_true", help="serve HTTP instead of HTTPS")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
