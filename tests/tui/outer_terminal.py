"""The terminal tmux runs in, played by a test: a pseudo-terminal whose far end is a real
`tmux attach`, every byte tmux sends its client recorded, and tmux's question "which terminal
are you?" (XTVERSION) answered with the name of the terminal it plays (kitty, foot, ...)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

XTVERSION_QUERY = b"\x1b[>q"


def terminfo_for(name: str, folder: Path) -> Path:
    """A terminfo database with ``name`` as xterm-256color with 24-bit colour: tmux refuses
    a client whose TERM it cannot look up, and this machine has no kitty or foot entry."""
    source = folder / f"{name}.terminfo"
    source.write_text(f"{name}|{name} played by a test,\n\tTc,\n\tuse=xterm-256color,\n")
    database = folder / "terminfo"
    subprocess.run(["tic", "-x", "-o", str(database), str(source)], check=True,
                   capture_output=True)  # fmt: skip
    return database


class OuterTerminal:
    """A tmux client attached to ``session`` of the server on ``socket``, in a terminal of
    ``size`` cells of ``cell_pixels`` pixels that calls itself ``termtype`` and is ``term``."""

    def __init__(
        self,
        socket: str,
        session: str,
        workdir: Path,
        term: str,
        termtype: str,
        size: tuple[int, int] = (160, 48),
        cell_pixels: tuple[int, int] = (10, 20),
    ) -> None:
        self.received = bytearray()
        self._lock = threading.Lock()
        self._termtype = termtype.encode()
        self._stop = threading.Event()
        self.link_bytes_per_second: int | None = None  # None: read as fast as tmux writes
        self.master, slave = pty.openpty()
        columns, rows = size
        winsize = struct.pack("HHHH", rows, columns, columns * cell_pixels[0],
                              rows * cell_pixels[1])  # fmt: skip
        fcntl.ioctl(slave, termios.TIOCSWINSZ, winsize)
        env = {key: value for key, value in os.environ.items() if not key.startswith("TMUX")}
        env.update(TERM=term, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        if term != "xterm-256color":
            env["TERMINFO"] = str(terminfo_for(term, workdir))
        self.client = subprocess.Popen(
            ["tmux", "-L", socket, "attach-session", "-t", session],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self._reader = threading.Thread(target=self._read, name="outer-terminal", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        answered = False
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            rate = self.link_bytes_per_second
            try:
                data = os.read(self.master, max(1, rate // 20) if rate else 1 << 16)
            except OSError:  # the client has gone
                return
            if not data:
                return
            with self._lock:
                self.received += data
                asked = not answered and XTVERSION_QUERY in self.received
            if asked:  # as the terminal does: DCS > | name ST
                os.write(self.master, b"\x1bP>|" + self._termtype + b"\x1b\\")
                answered = True
            if rate:  # a slow link: a twentieth of a second's worth at a time
                time.sleep(len(data) / rate)

    def bytes(self) -> bytes:
        with self._lock:
            return bytes(self.received)

    def mark(self) -> int:
        """Where the bytes received so far end: ``since(mark)`` is what came after."""
        with self._lock:
            return len(self.received)

    def since(self, mark: int) -> bytes:
        with self._lock:
            return bytes(self.received[mark:])

    def wait_for(self, test: Callable[[bytes], bool], what: str, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            data = self.bytes()
            if test(data):
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never received {what}")
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        if self.client.poll() is None:
            self.client.terminate()
        try:
            self.client.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.client.kill()
            self.client.wait(timeout=5)
        self._reader.join(timeout=2)
        os.close(self.master)
