"""Copy what the parity tests need from shared/reference/model-seed1 and train-seed1 into fixtures/.

Small arrays are copied whole. Large intermediates (image feature maps, GRU and GA
outputs: ~11 MB together) are stored as 4,096 values at fixed, spread-out flat indices
(`NAME.sample.npy` + `NAME.index.npy`), so a clone without shared/ still checks every
intermediate, at sampled positions. Run in the .venv:

    .venv/bin/python scripts/make_reference_fixtures.py [SHARED_DIR]
"""
import os
import shutil
import sys

import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared")
src = os.path.join(shared, "reference", "model-seed1")
dst = os.path.join(root, "fixtures", "reference", "model-seed1")
os.makedirs(dst, exist_ok=True)

WHOLE_LIMIT = 64 * 1024
SAMPLES = 4096

for name in sorted(os.listdir(src)):
    path = os.path.join(src, name)
    if name.startswith("input_") or name == "state_dict_manifest.json":
        continue  # inputs come from the hash; the manifest is bundled in embedder/src/model
    if not name.endswith(".npy") or os.path.getsize(path) <= WHOLE_LIMIT:
        shutil.copyfile(path, os.path.join(dst, name))
        continue
    a = np.load(path).reshape(-1)
    # Evenly spread indices plus a seeded scatter, so both regular and odd positions are hit.
    even = np.linspace(0, a.size - 1, SAMPLES // 2).astype(np.int64)
    scatter = np.random.default_rng(1).choice(a.size, SAMPLES - even.size, replace=False).astype(np.int64)
    index = np.unique(np.concatenate([even, scatter]))
    stem = name[: -len(".npy")]
    np.save(os.path.join(dst, stem + ".index.npy"), index.astype("<i8"))
    np.save(os.path.join(dst, stem + ".sample.npy"), a[index].astype("<f4"))
print("wrote", dst)

# train-seed1: everything but the inputs (regenerated from the hash) is small; copy it whole.
src = os.path.join(shared, "reference", "train-seed1")
dst = os.path.join(root, "fixtures", "reference", "train-seed1")
os.makedirs(dst, exist_ok=True)
for name in sorted(os.listdir(src)):
    if not name.startswith("train_input_"):
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
print("wrote", dst)
