"""A first scan reads each new file once: the survey that hashes a file also describes it (what
it is by its first bytes, its EXIF, a JPEG cut short, the XMP it carries or is) from the bytes
it read, and the media pipeline groups the files into photos from that description without
opening them again.

Opens are counted in a whole ``shootwatch scan`` process by an audit hook installed by the
test's own ``sitecustomize`` (every ``open`` and ``os.open`` of the process and its workers);
the descriptions are compared with those the media workers make reading each file by its path.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from core.config import load_settings
from core.scan.hashing import LARGE_FILE_BYTES
from core.store import open_catalogue, queries
from tests.helpers import FIXTURES, REPO, SHARED_CAMERA, command_settings, write

CAMERA = FIXTURES / "camera"
XMP_RATED = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="{rating}"/></rdf:RDF></x:xmpmeta>'
)
# The opens of the preview stage, which comes after describing (the previews of a small first
# scan are built before it returns): they are reported apart.
PREVIEW_STAGE = frozenset(("build_previews", "built_preview", "render_preview", "looks_of"))
SITECUSTOMIZE = f"""
import os, sys

_names = set(os.environ["OPEN_NAMES"].split("/"))
_log = os.open(os.environ["OPEN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
_preview = {sorted(PREVIEW_STAGE)!r}


def _opened(event, args):
    if event != "open" or not isinstance(args[0], (str, bytes)):
        return
    name = os.path.basename(os.fsdecode(args[0]))
    if name not in _names:
        return
    stage, frame = "scan", sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in _preview:
            stage = "preview"
            break
        frame = frame.f_back
    os.write(_log, f"{{stage}} {{name}}\\n".encode())


sys.addaudithook(_opened)
"""


def _padded(data: bytes, size: int) -> bytes:
    """``data`` followed by bytes no reader looks at, to ``size`` bytes."""
    return data + bytes(size - len(data)) if size > len(data) else data


def _library(photos: Path, large: bool) -> list[str]:
    """A shoot with every kind of file a first scan meets, each at least LARGE_FILE_BYTES when
    ``large`` (those that can be: a sidecar, a cut-off JPEG and an empty file are small).
    Returns the file names (unique across the tree)."""
    size = LARGE_FILE_BYTES + 4096 if large else 0
    tag = "L" if large else "S"
    day = photos / "2024" / "2024-06-01"
    jpeg = (CAMERA / "sony_slt-a58_small.jpg").read_bytes()
    dng = (CAMERA / "nikon_z9_cropped.dng").read_bytes()
    files = {
        f"JPG_{tag}.jpg": _padded(jpeg, size),
        f"DNG_{tag}.dng": _padded(dng, size),
        f"DNG_{tag}.dng.xmp": XMP_RATED.format(rating=3).encode(),
        # A RAW and its JPEG twin that carries its own XMP (a reject).
        f"NEF_{tag}.NEF": _padded((CAMERA / "nikon_d7100_truncated.NEF").read_bytes(), size),
        f"NEF_{tag}.JPG": _with_xmp(
            _padded((CAMERA / "olympus_pen_e-p3.jpg").read_bytes(), size), -1
        ),
        f"CR3_{tag}.CR3": _padded((CAMERA / "canon_eos_m50_stripped.CR3").read_bytes(), size),
        f"RAF_{tag}.RAF": (CAMERA / "fujifilm_s5pro_stripped.RAF").read_bytes(),
        # Junk named like a RAW stays no photo (issue 16 item 5).
        f"JUNK_{tag}.CR2": _padded(b"\x13\x37 not a raw " * 100, size or 5000),
        # A JPEG cut inside its EXIF segment is damaged (issue 16 item 6).
        f"CUT_{tag}.jpg": jpeg[:4000],
        f"EMPTY_{tag}.CR2": b"",
    }
    for name, data in files.items():
        write(day / name, data)
    return list(files)


def _with_xmp(jpeg: bytes, rating: int) -> bytes:
    packet = b"http://ns.adobe.com/xap/1.0/\x00" + XMP_RATED.format(rating=rating).encode()
    segment = b"\xff\xe1" + (len(packet) + 2).to_bytes(2, "big") + packet
    return jpeg[:2] + segment + jpeg[2:]


def _scan_counting_opens(tmp_path: Path, names: list[str]) -> dict[str, dict[str, int]]:
    """Run a whole first ``shootwatch scan``; {stage: {name: opens}} of the library's files."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "opens.log"
    config = command_settings(tmp_path)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(hook), str(REPO))),
        "OPEN_NAMES": "/".join(names),
        "OPEN_LOG": str(log),
    }
    import subprocess

    base = [sys.executable, "-m", "core.cli", "--config", str(config)]
    for args in (["add", str(tmp_path / "photos")], ["scan"]):
        done = subprocess.run(
            [*base, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=300
        )
        assert done.returncode in (0, 1), done.stderr
    opens: dict[str, dict[str, int]] = {"scan": {}, "preview": {}}
    for line in log.read_text().splitlines() if log.exists() else []:
        stage, name = line.split(" ", 1)
        opens[stage][name] = opens[stage].get(name, 0) + 1
    return opens


@pytest.mark.parametrize("large", [False, True], ids=["below-large", "above-large"])
def test_a_first_scan_opens_each_new_file_once(tmp_path, large):
    names = _library(tmp_path / "photos", large)
    opens = _scan_counting_opens(tmp_path, names)
    assert opens["scan"] == dict.fromkeys(names, 1), opens


def _description_rows(catalogue_path: Path) -> tuple[list[tuple], list[tuple]]:
    """What describing left in a catalogue: each file's kind, format, reason, role and photo,
    and each photo's EXIF columns and the triage state its XMP gave it."""
    connection = sqlite3.connect(catalogue_path)
    try:
        files = connection.execute(
            "SELECT f.rel_path, f.kind, f.format, f.error, f.role, p.blake3 FROM file f"
            " LEFT JOIN photo p ON p.id = f.photo_id ORDER BY f.rel_path"
        ).fetchall()
        columns = ", ".join(
            f"p.{column}" for column in queries_photo_columns() if column != "metadata_at"
        )
        photos = connection.execute(
            f"SELECT p.blake3, {columns}, p.decision, p.rating, p.labels,"
            " p.xmp_read_at IS NOT NULL FROM photo p ORDER BY p.blake3"
        ).fetchall()
    finally:
        connection.close()
    return files, photos


def queries_photo_columns() -> tuple[str, ...]:
    from core.store.photos import PHOTO_METADATA_COLUMNS

    return PHOTO_METADATA_COLUMNS


def _described_by_path(base: Path) -> Path:
    """The same library catalogued by a scan whose recorded descriptions are dropped, so the
    media workers describe every file by reading it from its path (the two-pass way)."""
    from core.media.photos import MediaSync
    from core.scan.reconcile import reconcile_roots

    settings = load_settings(command_settings(base))
    catalogue = open_catalogue(settings.catalogue)
    try:
        root, _ = queries.add_root(str(base / "photos"))
        reconcile_roots(catalogue, [root], settings.scan, kind="manual")
        catalogue.db.execute_sql("UPDATE file SET description = NULL")
        MediaSync(catalogue.db, settings.media, None).run_until_idle()
    finally:
        catalogue.close()
    return settings.catalogue


@pytest.mark.parametrize("large", [False, True], ids=["below-large", "above-large"])
def test_descriptions_made_while_hashing_equal_those_read_from_the_files(tmp_path, large):
    one_pass, two_pass = tmp_path / "one", tmp_path / "two"
    _library(one_pass / "photos", large)
    _library(two_pass / "photos", large)
    names = [path.name for path in (one_pass / "photos").rglob("*") if path.is_file()]
    _scan_counting_opens(one_pass, names)
    reference = _described_by_path(two_pass)
    files, photos = _description_rows(one_pass / "catalogue.db")
    assert (files, photos) == _description_rows(reference)
    by_name = {os.path.basename(row[0]): row for row in files}
    tag = "L" if large else "S"
    # The facts the issues pinned, as this scan recorded them.
    assert by_name[f"JUNK_{tag}.CR2"][5] is None  # no photo
    assert by_name[f"EMPTY_{tag}.CR2"][2] == "empty"
    assert "cut" in (by_name[f"CUT_{tag}.jpg"][3] or "")
    assert by_name[f"DNG_{tag}.dng"][2] == "tiff-raw" and by_name[f"DNG_{tag}.dng"][5]
    assert 3 in {row[-3] for row in photos}  # the rating its sidecar gave it


def _samples() -> list[Path]:
    found = {path.name: path for path in sorted(CAMERA.iterdir()) if path.suffix != ".md"}
    if SHARED_CAMERA.is_dir():  # the full set, beside the checkout
        found.update((path.name, path) for path in SHARED_CAMERA.iterdir() if path.suffix != ".md")
    return sorted(found.values())


@pytest.mark.parametrize("sample", _samples(), ids=lambda path: path.name)
def test_a_description_from_bytes_in_hand_is_the_one_read_from_the_file(sample):
    """Read into memory (a file below LARGE_FILE_BYTES), mapped (above), or read from its
    path by a media worker, and through the catalogue's record: one description."""
    from core.media.describe import Description, describe_content, describe_file

    path = str(sample)
    from_path = describe_file(path)
    assert describe_content(path, sample.read_bytes()) == from_path
    with open(sample, "rb") as handle:
        if os.fstat(handle.fileno()).st_size:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                assert describe_content(path, mapped) == from_path
    assert Description.from_record(path, from_path.as_record()) == from_path


def _described_count(catalogue_path: Path) -> int:
    """Files the engine has described (sidecars: recorded)."""
    if not catalogue_path.exists():
        return 0
    connection = sqlite3.connect(catalogue_path, timeout=5)
    try:
        return connection.execute(
            "SELECT count(*) FROM file WHERE format IS NOT NULL OR kind = 'xmp'"
        ).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        connection.close()


@pytest.mark.parametrize("large", [False, True], ids=["below-large", "above-large"])
def test_files_the_running_engine_sees_arrive_are_read_once(tmp_path, large):
    """The live path: files moved into a watched folder while the engine runs are hashed by
    the watcher's reconcile, described from the same read, and grouped without another."""
    import signal
    import subprocess
    import time

    staging = tmp_path / "staging"
    names = _library(staging, large)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "opens.log"
    config = command_settings(tmp_path)
    with config.open("a") as settings:
        settings.write("[watch]\nsettle_seconds = 0.5\n[stages]\nenabled = []\n")
    day = tmp_path / "photos" / "2024" / "2024-06-01"
    day.mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(hook), str(REPO))),
        "OPEN_NAMES": "/".join(names),
        "OPEN_LOG": str(log),
    }
    base = [sys.executable, "-m", "core.cli", "--config", str(config)]
    subprocess.run([*base, "add", str(tmp_path / "photos")], env=env, cwd=REPO, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    engine = subprocess.Popen([*base, "run"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)  # fmt: skip
    try:
        time.sleep(3)  # the engine up and watching
        for path in (staging / "2024" / "2024-06-01").iterdir():
            os.rename(path, day / path.name)  # each arrives whole
        catalogue = tmp_path / "catalogue.db"
        deadline = time.monotonic() + 120
        while _described_count(catalogue) < len(names):
            assert time.monotonic() < deadline, "the engine did not describe the files"
            assert engine.poll() is None, engine.stderr.read().decode()
            time.sleep(0.3)
        time.sleep(2)  # and anything it would still read
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=60)
    opens: dict[str, int] = {}
    for line in log.read_text().splitlines():
        stage, name = line.split(" ", 1)
        if stage == "scan":
            opens[name] = opens.get(name, 0) + 1
    assert opens == dict.fromkeys(names, 1)
