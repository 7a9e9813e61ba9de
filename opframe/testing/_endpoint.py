"""Where a LocalCluster's API server listens, remembered in its state directory.

A cluster restarted on the same state directory comes back at the same address with the same
bearer token, so kubeconfigs already handed out, running clients and operators reconnect by
themselves, as they do to a real API server that restarted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Endpoint"]

log = logging.getLogger("opframe.local")


@dataclass(frozen=True)
class Endpoint:
    """The port and token of an API server (port 0 and no token: not chosen yet)."""

    port: int = 0
    token: str | None = None

    @classmethod
    def load(cls, path: Path) -> Endpoint:
        """What ``path`` remembers; a fresh endpoint when it is missing or unreadable.

        A remembered port that another process holds now is dropped (with a warning): the
        server then comes back on a new port, with the same token.
        """
        try:
            data = json.loads(path.read_text())
            port, token = int(data.get("port") or 0), data.get("token") or None
        except (OSError, ValueError, AttributeError):
            return cls()
        if port and not _free(port):
            log.warning("port %d of the previous API server is taken: using a new one", port)
            port = 0
        return cls(port, str(token) if token else None)

    def save(self, path: Path) -> None:
        """Remember the endpoint (the file is private: it holds the token)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".tmp")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"port": self.port, "token": self.token}, f)
        staging.replace(path)


def _free(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
