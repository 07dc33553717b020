"""Print retrieval metrics of embedding sets side by side (scripts/demo.sh: hashinit beside trained).

    python3 scripts/metrics_table.py A.json B.json ...   (each: the JSON line of `swan eval --json`; the column
                                                          is the file name without .json and an "eval-" prefix)
"""
import json
import os
import sys

ROWS = [
    ("R@1 image->text", lambda m: m["i2t"]["r1"]),
    ("R@5 image->text", lambda m: m["i2t"]["r5"]),
    ("R@1 text->image", lambda m: m["t2i"]["r1"]),
    ("R@5 text->image", lambda m: m["t2i"]["r5"]),
    ("mR", lambda m: m["mR"]),
    ("SR@1 image->text", lambda m: 100 * m["scene_recall_i2t"]["1"]),
    ("SR@1 text->image", lambda m: 100 * m["scene_recall_t2i"]["1"]),
    ("SR@5 image->text", lambda m: 100 * m["scene_recall_i2t"]["5"]),
    ("SR@5 text->image", lambda m: 100 * m["scene_recall_t2i"]["5"]),
]


def main(paths):
    sets = []
    for p in paths:
        with open(p) as f:
            sets.append(json.loads(f.readline()))
    names = [os.path.basename(p).removesuffix(".json").removeprefix("eval-") for p in paths]
    print(f"{'(percent)':<18}" + "".join(f"{n:>12}" for n in names))
    for label, get in ROWS:
        cells = []
        for m in sets:
            try:
                cells.append(f"{get(m):>12.1f}")
            except (KeyError, TypeError):
                cells.append(f"{'-':>12}")
        print(f"{label:<18}" + "".join(cells))
    n = sets[0]
    print(f"({n.get('n_images')} images, {n.get('n_captions')} captions; chance SR@1 is the share of each scene)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
