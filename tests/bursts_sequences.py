"""Sequences of real photos for burst tests: the demo's photos and the camera samples, shifted,
cropped, blurred and brightened as consecutive frames of a burst are, written as JPEGs with a
camera's EXIF (body, capture time to the hundredth) into real folders, and catalogued."""

from __future__ import annotations

import calendar
import functools
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter

from core.config import Settings
from core.media.looks import measure
from core.store import Catalogue
from tests.helpers import FIXTURES, REPO, catalogue_photos

DEMO = REPO / "core" / "demo" / "photos"
NIGHT = DEMO / "2024-11-16_city-night"
D750 = ("NIKON CORPORATION", "NIKON D750")
R5 = ("Canon", "Canon EOS R5")
# 2024-11-16 21:46:31 on the camera's clock, as the catalogue keeps a clock without an offset
START = calendar.timegm((2024, 11, 16, 21, 46, 31, 0, 0, 0))


def real_sources() -> list[Path]:
    """Every real photo at hand: the demo's (its burst frames once: they are one picture) and
    the camera samples that decode."""
    demo = [path for path in sorted(DEMO.glob("*/*.JPG"))
            if not path.name.startswith("DSC_010") or path.name == "DSC_0101.JPG"]  # fmt: skip
    camera = FIXTURES / "camera"
    samples = ["apple_iphone5_orient3_gps.jpg", "gopro_hero4_lightroom.jpg",
               "kodak_dc240_1999.jpg", "nikon_coolpix_p6000_gps_DSCN0010.jpg"]  # fmt: skip
    return demo + [camera / name for name in samples]


@functools.cache
def photo(name: str) -> Image.Image:
    """A real photo by file name (demo or camera sample), RGB, at most 1200 px."""
    for path in [*DEMO.glob(f"*/{name}"), FIXTURES / "camera" / name]:
        if path.exists():
            image = Image.open(path).convert("RGB")
            image.thumbnail((1200, 1200))
            return image
    raise FileNotFoundError(name)


def shifted(image: Image.Image, dx: float, dy: float = 0.0) -> Image.Image:
    """The camera moved by ``dx``, ``dy`` of the frame (fractions), as the next frame sees it."""
    w, h = image.size
    box = (int(w * max(dx, 0)), int(h * max(dy, 0)),
           w - int(w * max(-dx, 0)), h - int(h * max(-dy, 0)))  # fmt: skip
    return image.crop(box).resize(image.size, Image.Resampling.BICUBIC)


def cropped(image: Image.Image, fraction: float) -> Image.Image:
    """Zoomed in: ``fraction`` of each side cut away."""
    w, h = image.size
    cut_w, cut_h = int(w * fraction / 2), int(h * fraction / 2)
    return image.crop((cut_w, cut_h, w - cut_w, h - cut_h)).resize(image.size)


def blurred(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def exposed(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def phash(image: Image.Image) -> str:
    """16 hex digits of imagehash's phash of the picture, as the media pipeline measures and
    stores it (core.media.looks)."""
    return measure(image).phash


def burst_frames(name: str, size: int) -> list[Image.Image]:
    """``size`` frames of one real photo as a burst sees them: the camera drifting a little,
    the exposure and focus changing a little from frame to frame."""
    base = photo(name)
    looks = [
        lambda im: im,
        lambda im: shifted(im, 0.02),
        lambda im: blurred(shifted(im, 0.03, 0.01), 2),
        lambda im: exposed(shifted(im, 0.01), 1.25),
        lambda im: cropped(im, 0.04),
        lambda im: shifted(im, -0.02, 0.02),
        lambda im: exposed(im, 0.8),
        lambda im: blurred(im, 4),
    ]
    return [looks[i % len(looks)](base) for i in range(size)]


@dataclass(frozen=True)
class Frame:
    name: str  # file name in its shoot
    image: Image.Image
    wall: float  # seconds on the camera's clock
    body: tuple[str, str] = D750


def write_frame(folder: Path, frame: Frame) -> Path:
    """The frame as a camera's JPEG: its body and capture time (with hundredths) in EXIF."""
    folder.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = frame.body  # Make, Model
    ifd = exif.get_ifd(0x8769)
    whole, hundredths = divmod(round(frame.wall * 100), 100)  # 12.999 s is 13.00, not 12.100
    ifd[0x9003] = _exif_time(whole)  # DateTimeOriginal
    ifd[0x9291] = f"{hundredths:02d}"  # SubSecTimeOriginal
    path = folder / frame.name
    frame.image.save(path, "JPEG", quality=88, exif=exif)
    return path


def _exif_time(seconds: int) -> str:
    import time

    return time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(seconds))


@dataclass
class Shoot:
    settings: Settings
    catalogue: Catalogue
    folder: Path
    ids: dict[str, int]  # photo id by file name

    @property
    def db(self):
        return self.catalogue.db

    def burst_of(self, name: str) -> int | None:
        return self.db.execute_sql(
            "SELECT burst FROM photo WHERE id = ?", (self.ids[name],)
        ).fetchone()[0]

    def groups(self) -> list[list[str]]:
        """The bursts as lists of file names, in shot order (photos on their own left out)."""
        names = {photo_id: name for name, photo_id in self.ids.items()}
        found: dict[int, list[str]] = {}
        for photo_id, burst in self.db.execute_sql(
            "SELECT id, burst FROM photo WHERE burst IS NOT NULL ORDER BY capture_time, id"
        ):
            found.setdefault(burst, []).append(names[photo_id])
        return sorted(found.values())

    def set_sharpness(self, values: dict[str, float]) -> None:
        with self.db.atomic():
            for name, value in values.items():
                self.db.execute_sql(
                    "UPDATE photo SET sharpness = ? WHERE id = ?", (value, self.ids[name])
                )


def catalogue_shoot(
    tmp_path: Path,
    frames: Sequence[Frame],
    config: str = "",
    measure: bool = True,
    sharpness: bool = False,
    catalogue: Path | str | None = None,
) -> Shoot:
    """The frames written into a real folder, scanned into a real catalogue with their EXIF
    read, previews built and looks measured, bursts grouped as they are (the engine's media
    pipeline). Without ``measure`` the photos are as before the pipeline measured them: no
    phash, no burst. Without ``sharpness`` the focus scores are taken away, for tests to set
    their own (``Shoot.set_sharpness``). ``catalogue``: a server's URL, else a file."""
    folder = tmp_path / "photos" / "2024-11-16_shoot"
    for frame in frames:
        write_frame(folder, frame)
    settings, opened = catalogue_photos(tmp_path, config, catalogue)
    ids = {
        rel.rsplit("/", 1)[-1]: photo_id
        for rel, photo_id in opened.db.execute_sql(
            "SELECT rel_path, photo_id FROM file WHERE role = 'original'"
        )
    }
    shoot = Shoot(settings, opened, folder, ids)
    if not measure:
        opened.db.execute_sql("UPDATE photo SET phash = NULL, burst = NULL")
    if not sharpness:
        opened.db.execute_sql("UPDATE photo SET sharpness = NULL")
    return shoot


def measure_hashes(shoot: Shoot, names: Sequence[str] | None = None) -> None:
    """Store the phash of each photo (of ``names``) that has none, from its file's pixels."""
    with shoot.db.atomic():
        for name in names or list(shoot.ids):
            image = Image.open(shoot.folder / name).convert("RGB")
            shoot.db.execute_sql(
                "UPDATE photo SET phash = ? WHERE id = ? AND phash IS NULL",
                (phash(image), shoot.ids[name]),
            )


def mixed_frames() -> list[Frame]:
    """A shoot of two bodies: the demo's real burst (its pixels, its times: 0.12 s apart) and
    the next shot 41 s later on the Nikon; a burst of a real photo made of shifted, blurred
    and brightened frames on the Canon; a busy minute of different photos on the Nikon; and
    the Canon's subject visited again three minutes later (``MIXED_BURSTS``)."""
    return [
        *(Frame(f"DSC_{n:04d}.JPG", photo(f"DSC_{n:04d}.JPG"), START + 0.12 * (n - 101))
          for n in range(101, 106)),
        Frame("DSC_0106.JPG", photo("DSC_0106.JPG"), START + 41.4),
        *(Frame(f"A_{i}.JPG", image, START + 60 + 0.4 * i, R5)
          for i, image in enumerate(burst_frames("IMG_0005.JPG", 4))),
        *(Frame(f"B_{i}.JPG", photo(name), START + 70 + 1.5 * i)
          for i, name in enumerate(["IMG_0001.JPG", "IMG_0004.JPG", "DSCF1207.JPG",
                                    "IMG_0009.JPG", "DSCF1220.JPG"])),
        *(Frame(f"C_{i}.JPG", image, START + 240 + 0.3 * i, R5)
          for i, image in enumerate(burst_frames("IMG_0005.JPG", 6)[3:])),
    ]  # fmt: skip


MIXED_BURSTS = [
    ["A_0.JPG", "A_1.JPG", "A_2.JPG", "A_3.JPG"],
    ["C_0.JPG", "C_1.JPG", "C_2.JPG"],
    [f"DSC_{n:04d}.JPG" for n in range(101, 106)],
]


def copy_demo_night(tmp_path: Path) -> Path:
    """The demo's city-night shoot (a real burst: DSC_0101-0105, 0.12 s apart) in a folder."""
    target = tmp_path / "photos" / NIGHT.name
    shutil.copytree(NIGHT, target, ignore=shutil.ignore_patterns("*.xmp", "darktable_exported"))
    return target
