"""Command stages: a program from the settings run on one photo, as a list of arguments with
placeholders, never through a shell, so a file name is only ever a file name.

``check_command`` validates a stage's command once, at start; ``expand`` fills in one photo's
values; ``run_command`` runs it, bounded in time and output, and checks that it wrote its file.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.workers import group_sentinel

PLACEHOLDER_HELP: dict[str, str] = {
    "src": "the photo's original file",
    "xmp": "the original's darktable sidecar (its name + .xmp), where darktable keeps the edits",
    "out": "the file the program must write; afterwards it has to exist and not be empty",
    "stem": "the original's name without folder and extension, such as IMG_0002 "
    "(a name, not a path: use it after {outdir}/)",
    "photo": "the photo's number in the catalogue",
    "outdir": "the folder {out} is in",
}
PLACEHOLDERS = tuple(PLACEHOLDER_HELP)

# placeholders whose values name files: these get the leading-dash protection in ``expand``
PATH_PLACEHOLDERS = frozenset({"src", "xmp", "out", "outdir"})

OUTPUT_LIMIT = 4096  # bytes of stdout+stderr kept: the tail, where programs say what went wrong
OUTPUT_LINES = 5  # lines of that tail quoted in a CommandFailed message
KILL_GRACE = 3.0  # seconds a timed-out command's processes get to end after SIGTERM

_EXAMPLE = '["darktable-cli", "{src}", "{xmp}", "{out}"]'
_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class CommandConfigError(ValueError):
    """A stage's command cannot work; the message is one sentence naming the stage."""


class CommandFailed(Exception):
    """A command ran and failed: a non-zero exit, a timeout, or no output file. The message
    is for a person: what happened and the last lines the program printed."""

    def __init__(self, message: str, returncode: int | None = None, output: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode  # None when it was stopped or never started
        self.output = output


@dataclass(frozen=True)
class CommandRun:
    returncode: int
    output: str  # the tail of stdout+stderr (the last OUTPUT_LIMIT bytes), decoded with "replace"


# --- the command from the settings -------------------------------------------------------------


def _parse(argument: str) -> list[str | tuple[str]]:
    """An argument as literal text and placeholders (1-tuples holding the name). Raises
    ValueError with the end of a sentence saying what is wrong with it."""
    parts: list[str | tuple[str]] = []
    position = 0
    for match in _BRACES.finditer(argument):
        parts.append(argument[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif match.group(1) is None:
            raise ValueError(
                f'the argument "{argument}" has a "{token}" without its pair '
                f'(write "{token * 2}" for a brace of its own)'
            )
        elif match.group(1) not in PLACEHOLDERS:
            raise ValueError(
                f'the argument "{argument}" uses an unknown placeholder {token}: use '
                + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
                + ' (or write "{{" and "}}" for a brace of its own)'
            )
        else:
            parts.append((match.group(1),))
    parts.append(argument[position:])
    return [part for part in parts if part != ""]


def check_command(stage: str, argv: Sequence[str]) -> str:
    """Check a stage's command before any photo is given to it: a non-empty list of strings,
    known placeholders ("{{" and "}}" are braces of their own), ``{out}`` present, and a
    program that can be run: found on PATH, or a path to an executable file. Returns the
    program's full path; raises CommandConfigError with one sentence for a person."""
    prefix = f'stage "{stage}":'
    if not isinstance(argv, list | tuple):
        raise CommandConfigError(
            f"{prefix} the command must be a list of the program and its arguments, "
            f"such as {_EXAMPLE}, not {argv!r}."
        )
    if not argv:
        raise CommandConfigError(
            f"{prefix} the command is empty: give the program and its arguments, "
            f"such as {_EXAMPLE}."
        )
    for number, argument in enumerate(argv):
        if not isinstance(argument, str):
            raise CommandConfigError(
                f"{prefix} every part of the command must be text in quotes, "
                f"but part {number + 1} is {argument!r}."
            )
    used: set[str] = set()
    for number, argument in enumerate(argv):
        try:
            parts = _parse(argument)
        except ValueError as error:
            raise CommandConfigError(f"{prefix} {error}.") from None
        used.update(part[0] for part in parts if isinstance(part, tuple))
        if number == 0 and used:
            raise CommandConfigError(
                f'{prefix} the program "{argv[0]}" cannot be a placeholder: '
                "give the program's name or path first, then its arguments."
            )
    if "out" not in used:
        raise CommandConfigError(
            f"{prefix} the command never uses {{out}}: put it where the program expects the "
            "file it writes, so shootwatch knows where to find it."
        )
    program = "".join(part for part in _parse(argv[0]) if isinstance(part, str))
    return _find_program(prefix, program)


def _find_program(prefix: str, program: str) -> str:
    if not program.strip():
        raise CommandConfigError(f"{prefix} the program's name is empty: give a name or a path.")
    if os.sep not in program and (os.altsep is None or os.altsep not in program):
        found = shutil.which(program)
        if found is None:
            raise CommandConfigError(
                f'{prefix} the program "{program}" was not found on PATH '
                "(install it or give its full path)."
            )
        return os.path.abspath(found)
    path = os.path.abspath(os.path.expanduser(program))
    if not os.path.exists(path):
        raise CommandConfigError(
            f'{prefix} the program "{program}" does not exist (check the path).'
        )
    if os.path.isdir(path):
        raise CommandConfigError(
            f'{prefix} the program "{program}" is a folder, not a program (check the path).'
        )
    if not os.access(path, os.X_OK):
        raise CommandConfigError(
            f'{prefix} the program "{program}" is not executable '
            "(allow it with chmod +x, or give another program)."
        )
    return path


def expand(argv: Sequence[str], values: Mapping[str, os.PathLike | str | bytes]) -> list[bytes]:
    """Each argument with its placeholders replaced by ``values``, as bytes (``os.fsencode``), so
    a file name that is not valid UTF-8 reaches the program unchanged. A placeholder can be part
    of an argument ("--out={out}"). The program itself goes first, from ``check_command``:
    ``[os.fsencode(program), *expand(argv[1:], values)]``."""
    expanded = []
    for argument in argv:
        try:
            parts = _parse(argument)
        except ValueError as error:
            raise CommandConfigError(f"{error}.") from None
        pieces = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(os.fsencode(part))
                continue
            name = part[0]
            if name not in values:
                raise ValueError(f"no value was given for the placeholder {{{name}}}")
            value = values[name]
            encoded = os.fsencode(value)
            is_path = isinstance(value, os.PathLike) or name in PATH_PLACEHOLDERS
            if is_path and encoded.startswith(b"-"):
                # A program reads an argument that starts with "-" as an option: a photo named
                # "-rf.jpg" would become flags for it, or "--help" would replace the export.
                # "--" ends options only for programs that know it (darktable-cli does not), so
                # the same file is named without the leading dash instead. Only a relative path
                # can start with "-"; "./" in front of it keeps it relative to the same folder.
                encoded = b"./" + encoded
            pieces.append(encoded)
        expanded.append(b"".join(pieces))
    return expanded


# --- running it --------------------------------------------------------------------------------


class _Tail:
    """Reads a pipe to its end in a thread, keeping only the last OUTPUT_LIMIT bytes, so a
    chatty program can neither fill the pipe and stall nor fill memory."""

    def __init__(self, pipe: io.BufferedReader) -> None:
        self._pipe = pipe
        self._kept = bytearray()
        # a daemon: a process that left the group could hold the pipe open for ever
        self._thread = threading.Thread(target=self._read, name="command-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with self._pipe:
            while chunk := self._pipe.read1(65536):
                self._kept += chunk
                del self._kept[:-OUTPUT_LIMIT]

    def text(self, wait: float) -> str:
        self._thread.join(wait)
        return bytes(self._kept[-OUTPUT_LIMIT:]).decode(errors="replace")


def _exited(pid: int) -> bool:
    """Whether the process has exited, without reaping it: while it is an unreaped zombie its
    pid, which is also its group's id, cannot be given to another process, so the group can
    still be signalled safely."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_exited(pid: int, timeout: float, stop: threading.Event | None = None) -> bool:
    """Whether the process exited within ``timeout`` (False as soon as ``stop`` is set)."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while not _exited(pid):
        left = deadline - time.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # ProcessLookupError: the whole group has already gone; PermissionError: only a member that
    # changed its user is left, which no signal from here can reach
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _last_lines(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return "\n".join(lines[-OUTPUT_LINES:])


def run_command(
    program_argv: list[bytes],
    out: Path,
    timeout: float = 600.0,
    stop: threading.Event | None = None,
) -> CommandRun:
    """Run an expanded command without a shell: stdin empty, stdout and stderr captured
    together (only the tail is kept), the parent's environment unchanged, and in a process
    group of its own, so a timeout stops the program and everything it started, and nothing it
    started outlives it or this process (however this process ends). A file already at ``out``
    is removed first: an earlier attempt's output must not pass for this one's. Raises
    CommandFailed when the program exits with another code than 0, does not finish within
    ``timeout`` seconds, is stopped because ``stop`` was set (shootwatch is stopping), or
    leaves ``out`` missing or empty."""
    name = os.fsdecode(os.path.basename(program_argv[0]))
    out.unlink(missing_ok=True)
    sentinel = group_sentinel()  # ends the group if this process is killed while it runs
    try:
        process = subprocess.Popen(
            program_argv,
            shell=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=True,
        )
    except OSError as error:
        raise CommandFailed(f"the command ({name}) could not start: {error.strerror}") from error
    sentinel.watch(process.pid)
    try:
        tail = _Tail(process.stdout)
        timed_out = not _wait_exited(process.pid, timeout, stop)
        if timed_out:
            _signal_group(process.pid, signal.SIGTERM)
            if not _wait_exited(process.pid, KILL_GRACE):
                _signal_group(process.pid, signal.SIGKILL)
                _wait_exited(process.pid, KILL_GRACE)
    finally:
        # whatever the program left running in its group ends with it
        _signal_group(process.pid, signal.SIGKILL)
        sentinel.release(process.pid)  # before the leader is reaped: its group id is still ours
    returncode = process.wait()
    output = tail.text(wait=KILL_GRACE)
    lines = _last_lines(output)
    said = f"; its last output:\n{lines}" if lines else " without any output"

    if timed_out and stop is not None and stop.is_set():
        raise CommandFailed(
            f"the command ({name}) was stopped: shootwatch is stopping", None, output
        )
    if timed_out:
        raise CommandFailed(
            f"the command ({name}) did not finish within the timeout of {timeout:g} seconds "
            f"and was stopped{said}",
            None,
            output,
        )
    if returncode < 0:
        try:
            signal_name = signal.Signals(-returncode).name
        except ValueError:
            signal_name = f"signal {-returncode}"
        raise CommandFailed(
            f"the command ({name}) was ended by {signal_name}{said}", returncode, output
        )
    if returncode != 0:
        raise CommandFailed(
            f"the command ({name}) exited with code {returncode}{said}", returncode, output
        )
    try:
        size = out.stat().st_size
    except FileNotFoundError:
        raise CommandFailed(
            f"the command ({name}) exited 0 but wrote nothing at {out}", returncode, output
        ) from None
    if size == 0:
        raise CommandFailed(
            f"the command ({name}) exited 0 but wrote an empty file at {out}", returncode, output
        )
    return CommandRun(returncode, output)
