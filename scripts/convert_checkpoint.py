"""Convert a PyTorch checkpoint into the safetensors file swan loads.

Accepts
  * a reference SWAN checkpoint (`.pth.tar`: the state dict under `model`, beside
    non-tensor entries such as `epoch`, `best_rsum` or `opt`), and
  * a bare ResNet-50 state dict (AID- or ImageNet-pretrained; under `model` or
    `state_dict`, or at the top level), whose keys get the `image_encoder.resnet.` prefix.
A `module.` prefix (DataParallel) is stripped. Non-tensor entries are dropped and listed.
For a SWAN checkpoint the keys and shapes are checked against the reference state dict
(embedder/src/model/reference_state_dict.json) and any difference is an error.

    .venv/bin/python scripts/convert_checkpoint.py IN.pth.tar OUT.safetensors [--unsafe-pickle]

`--unsafe-pickle` allows checkpoints that store Python objects (e.g. an argparse
Namespace of options) by loading with weights_only=False: only use it on files you trust.
"""
import argparse
import hashlib
import json
import os
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "embedder", "src", "model", "reference_state_dict.json")
RESNET_PREFIX = "image_encoder.resnet."


def fail(msg):
    print(f"convert_checkpoint: error: {msg}", file=sys.stderr)
    sys.exit(2)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(path, unsafe):
    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except Exception as e:  # torch raises several types for pickles it refuses
        if not unsafe and "weights_only" in str(e):
            fail(f"{path}: holds Python objects besides tensors; if you trust the file, rerun with --unsafe-pickle ({str(e).splitlines()[0]})")
        fail(f"{path}: not a readable PyTorch checkpoint: {e}")


def state_dict_of(obj, path):
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                dropped = sorted(k for k in obj if k != key)
                return obj[key], dropped
        return obj, []
    fail(f"{path}: expected a dict (a state dict or a checkpoint holding one), found {type(obj).__name__}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--unsafe-pickle", action="store_true")
    args = ap.parse_args()

    sd, dropped = state_dict_of(load(args.input, args.unsafe_pickle), args.input)
    tensors, skipped = {}, []
    for name, value in sd.items():
        name = name[len("module."):] if name.startswith("module.") else name
        if isinstance(value, torch.Tensor):
            tensors[name] = value.detach().contiguous()
        else:
            skipped.append(name)

    reference = {e["name"]: e["shape"] for e in json.load(open(REFERENCE))}
    is_swan = any(k.startswith(("image_encoder.", "text_encoder.", "tcge.", "sfgs.", "agg.")) for k in tensors)
    if is_swan:
        problems = [f"missing key {k} {reference[k]}" for k in sorted(set(reference) - set(tensors))]
        problems += [f"unexpected key {k} {list(tensors[k].shape)}" for k in sorted(set(tensors) - set(reference))]
        problems += [
            f"key {k} has shape {list(tensors[k].shape)}, the reference has {reference[k]}"
            for k in sorted(set(tensors) & set(reference))
            if list(tensors[k].shape) != reference[k]
        ]
        if problems:
            fail(f"{args.input}: not a SWAN checkpoint of the reference layout:\n  " + "\n  ".join(problems))
        kind = "swan"
    else:
        tensors = {RESNET_PREFIX + k: v for k, v in tensors.items()}
        problems = [
            f"key {k} has shape {list(v.shape)}, ResNet-50 has {reference[k]}"
            for k, v in tensors.items()
            if k in reference and list(v.shape) != reference[k] and not k.startswith(RESNET_PREFIX + "fc.")
        ]
        unknown = sorted(k for k in tensors if k not in reference and not k.startswith(RESNET_PREFIX + "fc."))
        problems += [f"unexpected key {k}" for k in unknown]
        if problems:
            fail(f"{args.input}: not a ResNet-50 state dict:\n  " + "\n  ".join(problems))
        kind = "resnet50"

    meta = {"source": os.path.basename(args.input), "source_sha256": sha256(args.input), "kind": kind}
    tmp = args.output + ".partial"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, args.output)
    notes = dropped + skipped
    print(json.dumps({"output": args.output, "kind": kind, "tensors": len(tensors), "dropped_entries": notes}))


if __name__ == "__main__":
    main()
