"""Asking a running engine to do something (rescan) over a Unix socket beside the catalogue.

One JSON object a line each way. The socket lives in the runtime folder (paths there stay
short: a Unix socket path has 107 bytes at most), named after the catalogue it serves.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from core.engine.lock import catalogue_identity


def socket_path(catalogue: Path) -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    # named after the file, not the name given: a symlink or hard link finds the same engine
    digest = hashlib.blake2b(catalogue_identity(catalogue).encode(), digest_size=8).hexdigest()
    return Path(runtime) / f"shootwatch-{os.getuid()}-{digest}.sock"


class ControlServer:
    """Serves ``handle(request) -> reply`` on the catalogue's socket, in a thread."""

    def __init__(self, catalogue: Path, handle: Callable[[dict], dict]) -> None:
        self.path = socket_path(catalogue)
        handle_request = handle

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    try:
                        reply = handle_request(json.loads(line))
                    except Exception as error:  # a bad request must not stop the server
                        reply = {"ok": False, "error": str(error)}
                    self.wfile.write(json.dumps(reply).encode() + b"\n")

        self.path.unlink(missing_ok=True)  # left by an engine that died; the lock is ours now
        self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        self._server.daemon_threads = True
        os.chmod(self.path, 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="shootwatch-control", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)


def ask(catalogue: Path, request: dict, timeout: float = 5.0) -> dict | None:
    """The running engine's reply, or None when no engine listens."""
    path = socket_path(catalogue)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(path))
            connection.sendall(json.dumps(request).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    return json.loads(reply) if reply else None
