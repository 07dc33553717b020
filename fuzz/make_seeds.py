#!/usr/bin/env python3
"""Write fuzz/seeds/TARGET/*: small, valid and near-valid inputs for every fuzz target,
cut from the repository's fixtures. Run from the repository root with the project's venv
(numpy, safetensors): `.venv/bin/python fuzz/make_seeds.py`. Deterministic; commit the result.
The index seeds are cut from every compat fixture (`indexer/tests/fixtures/vN`): rerun this
when a format version is added. Crash inputs go to fuzz/regressions/, never here."""

import glob, io, json, os, shutil, struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save as st_save

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def put(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def npy_bytes(arr, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, arr)
    else:
        np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


def raw_npy(dict_text, data=b"", major=1):
    d = dict_text.encode()
    if major == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d + data
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack("<I", len(d)) + d + data


def npy_seeds():
    rng = np.random.default_rng(7)
    put("npy", "f32_3x4.npy", npy_bytes(rng.standard_normal((3, 4)).astype("<f4")))
    put("npy", "f16_5x8.npy", npy_bytes(rng.standard_normal((5, 8)).astype("<f2")))
    put("npy", "f64_2x3.npy", npy_bytes(rng.standard_normal((2, 3))))
    put("npy", "i64_4x6.npy", npy_bytes(np.arange(24, dtype="<i8").reshape(4, 6)))
    put("npy", "i32_7.npy", npy_bytes(np.arange(7, dtype="<i4")))
    put("npy", "u1_2x2.npy", npy_bytes(np.array([[1, 2], [3, 4]], dtype="u1")))
    put("npy", "bool_3.npy", npy_bytes(np.array([True, False, True])))
    put("npy", "scalar.npy", npy_bytes(np.array(1.5, dtype="<f4")))
    put("npy", "empty_0x512.npy", npy_bytes(np.zeros((0, 512), dtype="<f4")))
    put("npy", "zero_width_10x0.npy", npy_bytes(np.zeros((10, 0), dtype="<f4")))
    put("npy", "f32_2x3x4.npy", npy_bytes(np.ones((2, 3, 4), dtype="<f4")))
    put("npy", "v2_f32_2x2.npy", npy_bytes(np.ones((2, 2), dtype="<f4"), version=(2, 0)))
    put("npy", "v3_f32_2x2.npy", npy_bytes(np.ones((2, 2), dtype="<f4"), version=(3, 0)))
    put("npy", "fortran.npy", npy_bytes(np.asfortranarray(np.ones((2, 3), dtype="<f4"))))
    put("npy", "big_endian.npy", npy_bytes(np.ones((2, 2), dtype=">f4")))
    put("npy", "nan_inf.npy", npy_bytes(np.array([[np.nan, np.inf], [-np.inf, 65504.0]], dtype="<f4")))
    good = npy_bytes(np.ones((4, 4), dtype="<f4"))
    put("npy", "truncated.npy", good[:-5])
    put("npy", "trailing.npy", good + b"\0" * 7)
    put("npy", "header_only.npy", good[:128])
    put("npy", "long_suffix.npy", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 1L), }\n", b"\0" * 8))
    put("npy", "double_quotes.npy", raw_npy('{"descr": "<f4", "fortran_order": False, "shape": (1, 2)}\n', b"\0" * 8))
    put("npy", "unaligned.npy", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", b"\0" * 4))
    put("npy", "huge_shape.npy", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }\n"))
    put("npy", "huge_dim_no_rows.npy", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776), }\n"))
    put("npy", "object.npy", raw_npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", b"\0" * 8))
    put("npy", "unicode_descr.npy", raw_npy("{'descr': '\u00e9f4', 'fortran_order': False, 'shape': (1,), }\n", b"\0" * 4))
    put("npy", "extra_key.npy", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n", b"\0" * 4))
    put("npy", "v9.npy", raw_npy("{}", major=9))
    put("npy", "v2_short.npy", b"\x93NUMPY\x02\x00\x10\x00")
    put("npy", "not_npy.npy", b"PK\x03\x04 not a numpy file")
    put("npy", "empty.npy", b"")
    for p in sorted(glob.glob(str(ROOT / "fixtures/reference/model-seed1/*.npy"))):
        if os.path.getsize(p) <= 16384:
            put("npy", "ref_" + os.path.basename(p), Path(p).read_bytes())


def manifest_seeds():
    producer = {"model": "swan", "checkpoint_sha256": "ab" * 32, "precision": "fp32", "text_padding": "alone", "swan_version": "0.1.0"}
    corpus = {"path": "corpus.jsonl", "layout": "jsonl", "images": 4, "captions": 20}
    images = {"file": "images.npy", "dtype": "f32", "rows": 4, "dim": 3, "items": [[0, 4]], "invalid": [1]}
    captions = {"file": "captions.npy", "dtype": "f32", "rows": 20, "dim": 3, "items": [[0, 20]], "invalid": []}
    base = {"format": "swan-embeddings", "version": 1, "producer": producer, "corpus": corpus, "normalized": True,
            "images": images, "captions": captions}

    def variant(name, **changes):
        m = json.loads(json.dumps(base))
        for path, value in changes.items():
            keys = path.split("__")
            node = m
            for k in keys[:-1]:
                node = node[k]
            if value is DELETE:
                node.pop(keys[-1], None)
            else:
                node[keys[-1]] = value
        put("manifest", name + ".json", json.dumps(m, indent=2) + "\n")

    put("manifest", "set.json", json.dumps(base, indent=2) + "\n")
    put("manifest", "compact.json", json.dumps(base, separators=(",", ":")))
    variant("images_only", captions=DELETE)
    variant("captions_only", images=DELETE)
    variant("split_ranges", captions__items=[[0, 10], [12, 22]])
    variant("sharded", images__items=[[4, 8]], corpus__images=8)
    variant("reversed_range", images__items=[[4, 0]])
    variant("short_ranges", images__items=[[0, 3]])
    variant("invalid_out_of_range", images__invalid=[4])
    variant("version_99", version=99)
    variant("version_string", version="1")
    variant("version_negative", version=-1)
    variant("version_huge", version=4294967297)
    variant("no_format", format=DELETE)
    variant("other_format", format="swan-hnsw")
    variant("f16_table", images__dtype="f16")
    variant("wrong_dim", images__dim=4)
    variant("huge_rows", images__rows=1152921504606846976, images__items=[[0, 1152921504606846976]])
    variant("absolute_file", images__file="/nonexistent/images.npy")
    variant("parent_file", images__file="../set/images.npy")
    variant("extra_key", extra=1)
    variant("null_producer", producer=None)
    variant("no_checkpoint", producer__checkpoint_sha256=DELETE)
    put("manifest", "fixture_v1.json", (ROOT / "indexer/tests/fixtures/v1/manifest.json").read_bytes())
    put("manifest", "not_json.json", "{\"format\": \"swan-embeddings\", ")
    put("manifest", "array.json", "[]")


DELETE = object()


def lines_seeds():
    caps = (ROOT / "fixtures/corpus/test_caps.txt").read_bytes()
    put("lines", "caps.txt", caps)
    put("lines", "crlf.txt", caps.replace(b"\n", b"\r\n"))
    put("lines", "no_final_newline.txt", caps.rstrip(b"\n"))
    put("lines", "empty.txt", b"")
    put("lines", "newline.txt", b"\n")
    put("lines", "two_newlines.txt", b"\n\n")
    put("lines", "cr_only.txt", b"a\rb\rc")
    put("lines", "latin1.txt", "caf\u00e9 near the river\n".encode("latin-1"))
    put("lines", "bom.txt", b"\xef\xbb\xbfa plane on the runway\nsecond\n")
    put("lines", "utf8.txt", "a caf\u00e9\u2019s roof \U0001F6E9\n".encode())
    put("lines", "blank_lines.txt", b"a\n\n  \n\tb\n")
    put("lines", "long_line.txt", b"field " * 2000 + b"\n")


def precomp_seeds():
    c = ROOT / "fixtures/corpus"
    put("precomp", "test.txt", (c / "test_caps.txt").read_bytes() + b"\0" + (c / "test_filename.txt").read_bytes())
    put("precomp", "train.txt", (c / "train_caps.txt").read_bytes() + b"\0" + (c / "train_filename.txt").read_bytes())
    five = b"".join(b"caption %d .\n" % i for i in range(5))
    put("precomp", "one_image_per_caption.txt", five + b"\0" + b"a.jpg\n" * 5)
    put("precomp", "one_image.txt", five + b"\0" + b"a.jpg\n")
    put("precomp", "subfolder.txt", five * 2 + b"\0" + b"a.jpg\nb/c.tif\n")
    put("precomp", "missing_image.txt", five + b"\0" + b"nope_1.jpg\n")
    put("precomp", "not_repeated.txt", five + b"\0" + b"a.jpg\na.jpg\nb.jpg\na.jpg\na.jpg\n")
    put("precomp", "empty_name.txt", five + b"\0" + b"  \n")
    put("precomp", "four_captions.txt", five[:-13] + b"\0" + b"a.jpg\n")
    put("precomp", "count_mismatch.txt", five * 2 + b"\0" + b"a.jpg\n" * 3)
    put("precomp", "empty.txt", b"\0")
    put("precomp", "no_names.txt", five)
    put("precomp", "crlf.txt", five.replace(b"\n", b"\r\n") + b"\0" + b"a.jpg\r\n")
    put("precomp", "empty_captions.txt", b"\n \n\t\n.\n\n" + b"\0" + b"a.jpg\n")
    put("precomp", "bom.txt", b"\xef\xbb\xbf" + five + b"\0\xef\xbb\xbfa.jpg\n")
    put("precomp", "not_utf8.txt", five.replace(b"caption 2", b"capt\xe9on") + b"\0" + b"a.jpg\n")
    put("precomp", "dot_dot.txt", five + b"\0" + b"../../a.jpg\n")


def jsonl_seeds():
    e = lambda **kw: json.dumps(kw)
    put("jsonl", "two.jsonl", e(image="a.jpg", captions=["a red roof", "two trucks"], scene="port") + "\n"
        + e(image="b.jpg", captions=["empty"]) + "\n")
    put("jsonl", "no_captions.jsonl", e(image="a.jpg") + "\n" + e(image="a.jpg", scene=None) + "\n")
    put("jsonl", "blank_lines.jsonl", "\n" + e(image="a.jpg", captions=[]) + "\n\n   \n")
    put("jsonl", "unknown_field.jsonl", e(image="a.jpg", caption="x") + "\n")
    put("jsonl", "empty_image.jsonl", e(image=" ", captions=["x"]) + "\n")
    put("jsonl", "absolute.jsonl", e(image="/nonexistent/a.jpg", captions=["x"]) + "\n")
    put("jsonl", "captions_not_list.jsonl", '{"image": "a.jpg", "captions": "x"}\n')
    put("jsonl", "not_json.jsonl", "image: a.jpg\n")
    put("jsonl", "empty_caption.jsonl", e(image="a.jpg", captions=["", "  "]) + "\n")
    put("jsonl", "unicode.jsonl", json.dumps({"image": "caf\u00e9.jpg", "captions": ["\u2019s \ud83d\ude80"]}, ensure_ascii=True) + "\n")
    put("jsonl", "bom.jsonl", b"\xef\xbb\xbf" + (e(image="a.jpg") + "\n").encode())
    put("jsonl", "crlf.jsonl", e(image="a.jpg", captions=["x"]) + "\r\n" + e(image="a.jpg") + "\r\n")
    put("jsonl", "not_utf8.jsonl", b'{"image": "a.jpg", "captions": ["caf\xe9"]}\n')
    put("jsonl", "empty.jsonl", b"")
    put("jsonl", "many.jsonl", "".join(e(image="a.jpg", captions=["c%d" % i] * (i % 4), scene="s%d" % (i % 3)) + "\n" for i in range(40)))


def folder_seeds():
    put("folder", "flat.txt", "a.jpg\nb.png\nc.tif\n")
    put("folder", "classes.txt", "port/a.jpg\nport/b.JPG\nbeach/c.jpeg\nbeach/deep/d.TIFF\n")
    put("folder", "mixed.txt", "a.jpg\nnotes.txt\nsub/b.png\nsub/c\n")
    put("folder", "precomp_split.txt", "test_caps.txt\ntest_filename.txt\nimages/a.jpg\n")
    put("folder", "other_split.txt", "train_caps.txt\na.jpg\n")
    put("folder", "odd_names.txt", b"\xff\xfe.jpg\nsp ace.png\n.hidden.jpg\nx/../y.jpg\n/abs.jpg\n")
    put("folder", "file_and_folder.txt", "a\na/b.jpg\n")
    put("folder", "empty.txt", "")
    put("folder", "deep.txt", "/".join("d%d" % i for i in range(30)) + "/z.png\n")
    put("folder", "no_images.txt", "readme.md\nlist.csv\n")


def vocab_seeds():
    def vocab(words):
        w2i = {w: i + 1 for i, w in enumerate(words)}
        i2w = {str(i + 1): w for i, w in enumerate(words)}
        return {"word2idx": w2i, "idx2word": i2w, "idx": len(words) + 1}

    small = vocab(["red", "truck", "lawn", "<unk>"])
    put("vocab", "small.json", json.dumps(small))
    put("vocab", "only_unk.json", json.dumps(vocab(["<unk>"])))
    put("vocab", "unicode.json", json.dumps(vocab(["caf\u00e9", "\u2019s", "\U0001F680", "<unk>"])))
    put("vocab", "unicode_raw.json", json.dumps(vocab(["caf\u00e9", "\u2019s", "<unk>"]), ensure_ascii=False))
    put("vocab", "escapes.json", json.dumps(vocab(["a\"b", "c\\d", "tab\t", "<unk>"])))
    bad = json.loads(json.dumps(small)); bad["word2idx"]["lawn"] = 9
    put("vocab", "id_out_of_range.json", json.dumps(bad))
    bad = json.loads(json.dumps(small)); bad["word2idx"]["lawn"] = 2
    put("vocab", "duplicate_id.json", json.dumps(bad))
    bad = json.loads(json.dumps(small)); bad["idx"] = 4
    put("vocab", "wrong_idx.json", json.dumps(bad))
    bad = json.loads(json.dumps(small)); bad["idx2word"]["2"] = "car"
    put("vocab", "idx2word_disagrees.json", json.dumps(bad))
    put("vocab", "unk_not_last.json", json.dumps(vocab(["<unk>", "red"])))
    put("vocab", "no_unk.json", json.dumps(vocab(["red"])))
    bad = json.loads(json.dumps(small)); bad["word2idx"]["red"] = -1
    put("vocab", "negative_id.json", json.dumps(bad))
    bad = json.loads(json.dumps(small)); bad["word2idx"]["red"] = 1.5
    put("vocab", "float_id.json", json.dumps(bad))
    bad = json.loads(json.dumps(small)); bad["word2idx"]["red"] = 18446744073709551615
    put("vocab", "huge_id.json", json.dumps(bad))
    put("vocab", "empty_object.json", "{}")
    put("vocab", "empty_maps.json", json.dumps({"word2idx": {}, "idx2word": {}, "idx": 1}))
    put("vocab", "not_json.json", "word2idx")
    put("vocab", "latin1.json", json.dumps(vocab(["caf\u00e9", "<unk>"]), ensure_ascii=False).encode("latin-1"))
    words = json.loads((ROOT / "fixtures/text/rsitmd_splits_vocab.json").read_text())["idx2word"]
    head = [words[str(i)] for i in range(1, 200)] + ["<unk>"]
    put("vocab", "rsitmd_head.json", json.dumps(vocab(head)))


def tokenizer_seeds():
    seen = []
    for line in (ROOT / "fixtures/text/tokens_sample_subset.jsonl").read_text().splitlines():
        cap = json.loads(line)["caption"]
        if cap not in seen:
            seen.append(cap)
    for i, cap in enumerate(seen[:24]):
        put("tokenizer", "sample_%02d.txt" % i, cap)
    tricky = [
        "  The truck's road, 1,000 m (2).",
        "\"quoted\" text and 'single' quotes ``like this''",
        "u.s. army base... near st. louis! dr. who? mr. smith's car",
        "the roof\u2019s colour \u2014 caf\u00e9 na\u00efve",
        "http://example.com/a?b=c&d=e a@b.com #tag $5 100% 3:45",
        "can't won't gonna gimme lemme wanna i'm you're",
        "--- ... ?? !! ;; :: [x] {y} <z>",
        "",
        ".",
        "\t\u000b\u000c \r\n",
        "a" * 3000,
        "1.5.6 2,3,4 -7 +8 1e9 0x1f",
        "\ud7ff\ue000\uffff\U0010ffff",
    ]
    for i, cap in enumerate(tricky):
        put("tokenizer", "tricky_%02d.txt" % i, cap.encode("utf-8", "surrogatepass"))
    put("tokenizer", "not_utf8.txt", b"caf\xe9 \xff\xfe roof")


def checkpoint_seeds():
    keys = json.loads((ROOT / "embedder/src/model/reference_state_dict.json").read_text())
    unused = lambda n: (n.endswith(".num_batches_tracked") or n.startswith("tcge.conv1d_block_")
                        or n.startswith("text_encoder.projection.") or n.startswith("image_encoder.resnet.fc."))
    put("checkpoint", "empty.safetensors", st_save({}))
    put("checkpoint", "one_tensor.safetensors", st_save({"agg.fc_1.bias": np.zeros(512, dtype="<f4")}))
    put("checkpoint", "wrong_shape.safetensors", st_save({"agg.fc_2.weight": np.zeros((3, 3), dtype="<f4")}))
    put("checkpoint", "int_weight.safetensors", st_save({"agg.fc_1.bias": np.zeros(512, dtype="<i4")}))
    put("checkpoint", "f16_and_bf16.safetensors", st_save({"agg.fc_1.bias": np.zeros(512, dtype="<f2"),
                                                          "extra.weight": np.zeros(2, dtype="<f8")}))
    small = {k["name"]: np.zeros([1] * len(k["shape"]), dtype="<i8" if k["dtype"] == "int64" else "<f4") for k in keys}
    put("checkpoint", "all_keys_tiny.safetensors", st_save(small, metadata={"format": "pt"}))
    unused_only = {k["name"]: np.zeros(k["shape"], dtype="<i8") for k in keys if unused(k["name"]) and k["dtype"] == "int64"}
    put("checkpoint", "unused_only.safetensors", st_save(unused_only))
    zero = {k["name"]: np.zeros([0] + k["shape"][1:], dtype="<f4") for k in keys if not unused(k["name"])}
    put("checkpoint", "all_model_keys_zero_rows.safetensors", st_save(zero))
    # The real header (every key with its shape) without its 162 MB of data.
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for k in keys:
        n = int(np.prod(k["shape"])) * (8 if k["dtype"] == "int64" else 4)
        header[k["name"]] = {"dtype": "I64" if k["dtype"] == "int64" else "F32", "shape": k["shape"], "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    put("checkpoint", "real_header_no_data.safetensors", struct.pack("<Q", len(h)) + h)
    put("checkpoint", "huge_header_len.safetensors", struct.pack("<Q", 2**63) + b"{}")
    put("checkpoint", "short.safetensors", b"\x02\x00\x00")
    put("checkpoint", "huge_shape.safetensors", (lambda h: struct.pack("<Q", len(h)) + h)(
        json.dumps({"agg.fc_1.bias": {"dtype": "F32", "shape": [2**62, 8], "data_offsets": [0, 0]}}).encode()))
    put("checkpoint", "zero_dim_huge.safetensors", (lambda h: struct.pack("<Q", len(h)) + h)(
        json.dumps({"agg.fc_1.bias": {"dtype": "F32", "shape": [0, 2**63 + 1], "data_offsets": [0, 0]}}).encode()))
    put("checkpoint", "pickle.safetensors", b"\x80\x02}q\x00.")



def index_json_seeds():
    fixtures = sorted(glob.glob(str(ROOT / "indexer/tests/fixtures/v*")), key=lambda p: int(p.rsplit("v", 1)[1]))
    for fx in fixtures:
        v = os.path.basename(fx)
        text = (Path(fx) / "index/index.json").read_text()
        put("index_json", v + ".json", text)
        base = json.loads(text)

        def variant(name, change):
            m = json.loads(json.dumps(base))
            change(m)
            put("index_json", "%s_%s.json" % (v, name), json.dumps(m, indent=2) + "\n")

        variant("one_shard_missing", lambda m: m["shards"].pop())
        variant("shard_twice", lambda m: m["shards"].append(m["shards"][0]))
        variant("no_shards", lambda m: m.update(shards=[]))
        variant("shards_swapped", lambda m: m["shards"].reverse())
        variant("m_zero", lambda m: m["params"].update(m=0))
        variant("m_huge", lambda m: m["params"].update(m=18446744073709551615))
        variant("shards_param", lambda m: m["params"].update(shards=3))
        variant("precision_f16", lambda m: m["params"].update(precision="f16"))
        variant("precision_f32", lambda m: m["params"].update(precision="f32"))
        variant("metric_l2", lambda m: m.update(metric="l2"))
        variant("version_99", lambda m: m.update(version=99))
        variant("version_string", lambda m: m.update(version="1"))
        variant("version_wraps", lambda m: m.update(version=4294967297))
        variant("rows_mismatch", lambda m: m["source"].update(rows=401))
        variant("dim_mismatch", lambda m: m["source"].update(dim=17))
        variant("invalid_rows_huge", lambda m: m["source"].update(invalid_rows=10**6))
        variant("nodes_mismatch", lambda m: m["shards"][0].update(nodes=201))
        variant("no_vectors", lambda m: [s.pop("vectors", None) for s in m["shards"]])
        variant("checksum_wrong", lambda m: m["shards"][0].update(graph_checksum="0" * len(m["shards"][0]["graph_checksum"])))
        variant("graph_escapes", lambda m: m["shards"][0].update(graph="../../base.npy"))
        variant("graph_is_vectors", lambda m: m["shards"][0].update(graph=m["shards"][0].get("vectors", "x")))
        variant("ef_zero", lambda m: m["params"].update(ef_construction=0))
        variant("linking_unknown", lambda m: m["params"].update(linking="other"))
    put("index_json", "empty.json", "")
    put("index_json", "not_index.json", json.dumps({"format": "swan-embeddings", "version": 1}))
    put("index_json", "format_only.json", json.dumps({"format": "swan-hnsw", "version": 1}))



def shard_seeds():
    """The newest fixture's first shard files without their 16-byte footer (the harness seals
    its input), and variants of their header fields."""
    newest = sorted(glob.glob(str(ROOT / "indexer/tests/fixtures/v*")), key=lambda p: int(p.rsplit("v", 1)[1]))[-1]
    listing = json.loads((Path(newest) / "index/index.json").read_text())
    shard = listing["shards"][0]

    def field(body, at, value, fmt="<I"):
        b = bytearray(body)
        struct.pack_into(fmt, b, at, value)
        return bytes(b)

    graph = (Path(newest) / "index" / shard["graph"]).read_bytes()[:-16]
    put("index_graph", "shard0.bin", graph)
    other = (Path(newest) / "index" / listing["shards"][1]["graph"]).read_bytes()[:-16]
    put("index_graph", "shard1.bin", other)
    for name, at, value in [("nodes_plus_one", 16, 201), ("nodes_zero", 16, 0), ("nodes_huge", 16, 0xFFFFFFFF),
                            ("m_zero", 20, 0), ("m_huge", 20, 0xFFFFFFFF), ("m0_small", 24, 1), ("entry_out", 28, 200),
                            ("max_level_255", 32, 255), ("max_level_huge", 32, 1 << 20), ("blocks_huge", 36, 0xFFFFFFFF),
                            ("blocks_zero", 36, 0), ("version_1", 8, 1), ("version_3", 8, 3), ("header_len_0", 12, 0)]:
        put("index_graph", name + ".bin", field(graph, at, value))
    put("index_graph", "truncated.bin", graph[: len(graph) // 2])
    put("index_graph", "header_only.bin", graph[:64])
    put("index_graph", "empty.bin", b"")

    vecs = (Path(newest) / "index" / shard["vectors"]).read_bytes()[:-16]
    put("index_vectors", "shard0.bin", vecs)
    for name, at, value, fmt in [("kind_f16", 16, 1, "<I"), ("kind_per_dim", 16, 3, "<I"), ("kind_9", 16, 9, "<I"),
                                 ("nodes_plus_one", 20, 201, "<I"), ("dim_zero", 24, 0, "<I"), ("dim_huge", 24, 0xFFFFFFFF, "<I"),
                                 ("dim_scales_at_huge", 32, 2**64 - 1, "<Q"), ("scales_at_odd", 40, 65, "<Q"),
                                 ("codes_at_huge", 48, 2**63, "<Q"), ("codes_at_zero", 48, 0, "<Q"), ("version_1", 8, 1, "<I")]:
        put("index_vectors", name + ".bin", field(vecs, at, value, fmt))
    put("index_vectors", "truncated.bin", vecs[: len(vecs) // 2])
    put("index_vectors", "header_only.bin", vecs[:64])
    put("index_vectors", "graph_instead.bin", graph)


if __name__ == "__main__":
    for target in ["npy", "manifest", "lines", "precomp", "jsonl", "folder", "vocab", "tokenizer", "checkpoint", "index_json", "index_graph", "index_vectors"]:
        shutil.rmtree(SEEDS / target, ignore_errors=True)
    npy_seeds()
    manifest_seeds()
    lines_seeds()
    precomp_seeds()
    jsonl_seeds()
    folder_seeds()
    vocab_seeds()
    tokenizer_seeds()
    checkpoint_seeds()
    index_json_seeds()
    shard_seeds()
    for d in sorted(SEEDS.iterdir()):
        print(d.name, len(list(d.iterdir())))

