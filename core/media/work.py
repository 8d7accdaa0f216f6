"""The media work done in worker processes (describing files is core.media.describe's):
previews built into the cache and measured (how each photo looks). Plain functions over plain
values, so they run anywhere."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from core.media.af_point import read_af_point
from core.media.cache import PreviewCache
from core.media.looks import measure, open_preview
from core.media.preview import PreviewUnavailable, render_preview


@dataclass(frozen=True)
class PreviewJob:
    blake3: str
    path: str
    format: str
    orientation: int | None


_caches: dict[tuple[str, int], PreviewCache] = {}


def cache_for(cache_dir: str, max_bytes: int) -> PreviewCache:
    """One cache per folder for the life of the worker: a new one would count the whole
    folder again at its first write (about 100 ms for 7,000 previews)."""
    key = (cache_dir, max_bytes)
    if key not in _caches:
        _caches[key] = PreviewCache(Path(cache_dir), max_bytes)
    return _caches[key]


# What build_previews says of each job: (blake3, why there is no preview or None, its looks:
# the photo's look columns (core.store.photos.LOOK_COLUMNS) as a dict, None without a preview).
PreviewResult = tuple[str, str | None, dict | None]


def build_previews(
    jobs: list[PreviewJob], cache_dir: str, max_bytes: int, long_edge: int
) -> list[PreviewResult]:
    """Build the previews that are not in the cache yet, and measure each photo's looks on its
    preview (the one just made, or the cached one)."""
    cache = cache_for(cache_dir, max_bytes)
    results: list[PreviewResult] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in describe_content
        for job in jobs:
            cached = cache.get(job.blake3)
            if cached is not None:
                results.append((job.blake3, None, looks_of(cached, job.path)))
                continue
            try:
                data = render_preview(Path(job.path), job.format, job.orientation, long_edge)
            except PreviewUnavailable as error:
                results.append((job.blake3, error.reason, None))
                continue
            except OSError as error:
                results.append((job.blake3, f"cannot be read: {error.strerror or error}", None))
                continue
            cache.put(job.blake3, data)
            results.append((job.blake3, None, looks_of(io.BytesIO(data), job.path)))
    return results


def looks_of(preview: Path | io.BytesIO, original: str) -> dict:
    """How the photo looks, measured on its preview, and the AF point its original's maker
    notes record: the look columns, with ``look_error`` saying why when it cannot be measured."""
    try:
        looks = measure(open_preview(preview))
    except Exception as error:  # Pillow on a damaged file raises nearly anything
        return {"look_error": f"its preview could not be measured: {type(error).__name__}: {error}"}
    point = read_af_point(original)
    return {
        "look_error": None,
        "phash": looks.phash,
        "sharpness": looks.sharpness,
        "sharp_x": looks.sharp_x,
        "sharp_y": looks.sharp_y,
        "af_x": point.x if point else None,
        "af_y": point.y if point else None,
        "clipped_highlights": looks.clipped_highlights,
        "clipped_shadows": looks.clipped_shadows,
    }
