#!/usr/bin/env python3
"""Write a random-init GPT-2 checkpoint with the exact shapes of a published model.

The output folder has the Hugging Face layout: config.json, generation_config.json,
model.safetensors, vocab.json and merges.txt.  The weights are random (see
`init_chunks` for the scheme), so the text it generates is meaningless, but every
shape, name and dtype matches the real model.  Use it to test conversion, loading,
memory use and speed without downloading the real weights.

Needs only numpy.  Tensors are generated and written one at a time (in chunks), so
peak memory is about one chunk, not the whole model.

    python tools/reference/checkpoint.py --arch gpt2 --out ckpt/gpt2
    python tools/reference/checkpoint.py --arch gpt2-xl --out ckpt/xl --dtype float16 --seed 3
    python tools/reference/checkpoint.py --arch gpt2 --out ckpt/legacy --layout legacy

--layout hf      names as written by GPT2LMHeadModel.save_pretrained
                 (transformer.wte.weight, transformer.h.0.attn.c_attn.weight, ...;
                 lm_head.weight is absent because it is tied to transformer.wte.weight)
--layout legacy  names as in the original hub checkpoints of gpt2 .. gpt2-xl
                 (wte.weight, h.0.attn.c_attn.weight, ...) plus the h.N.attn.bias
                 causal-mask buffers (float32 [1, 1, n_positions, n_positions], lower
                 triangle of ones) that those files carry and loaders must ignore.

The same tensor has the same values in both layouts and in every run with the same
--seed; float16 output is the float32 values rounded to nearest.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# This copy lives in tools/reference/ (the original is ../shared/fixtures/make_checkpoint.py); the GPT-2 tokenizer
# files come from the repository's test fixtures.
TOKENIZER_DIR = os.path.join(HERE, "..", "..", "Tests", "Fixtures", "tokenizer")

VOCAB_SIZE = 50257
EOT_ID = 50256

# Architecture numbers of the published checkpoints.
ARCHS = {
    "gpt2": dict(n_layer=12, n_embd=768, n_head=12),
    "gpt2-medium": dict(n_layer=24, n_embd=1024, n_head=16),
    "gpt2-large": dict(n_layer=36, n_embd=1280, n_head=20),
    "gpt2-xl": dict(n_layer=48, n_embd=1600, n_head=25),
    "distilgpt2": dict(n_layer=6, n_embd=768, n_head=12),
}

# Weight scheme (shared with make_fixtures.py):
#   matrices and embeddings ~ N(0, std), std = INIT_ALPHA / sqrt(n_embd);
#   attn.c_proj / mlp.c_proj weights ~ N(0, std / sqrt(2 * n_layer))  (HF's GPT-2 rule);
#   LayerNorm gains = exp(U(log 0.5, log 2))  (log-uniform in [0.5, 2]);
#   every bias (LayerNorm and linear) ~ N(0, BIAS_STD).
# HF's own init (std 0.02, zero biases, unit gains) gives a near-uniform model: flat
# attention, logits with std ~0.2, and greedy decoding that repeats one token whatever
# the prompt.  INIT_ALPHA = 1.6 gives std 0.2 at n_embd 64 and 0.058 at n_embd 768
# (trained GPT-2 matrices are of that order), peaked attention and logits with std ~2.
INIT_ALPHA = 1.6
BIAS_STD = 0.1
LN_GAIN_RANGE = (0.5, 2.0)
CHUNK_ELEMS = 1 << 22


def make_config(n_layer, n_embd, n_head, n_positions=1024, **extra):
    """config.json contents with the fields of the published GPT-2 configs."""
    cfg = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": EOT_ID,
        "embd_pdrop": 0.1,
        "eos_token_id": EOT_ID,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": n_positions,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_layer": n_layer,
        "n_positions": n_positions,
        "resid_pdrop": 0.1,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "vocab_size": VOCAB_SIZE,
    }
    cfg.update(extra)
    return cfg


def tensor_specs(cfg):
    """(name, shape) of every stored tensor, HF names without the 'transformer.' prefix."""
    d, L, P, V = cfg["n_embd"], cfg["n_layer"], cfg["n_positions"], cfg["vocab_size"]
    inner = cfg.get("n_inner") or 4 * d
    specs = [("wte.weight", (V, d)), ("wpe.weight", (P, d))]
    for i in range(L):
        p = f"h.{i}."
        specs += [
            (p + "ln_1.weight", (d,)), (p + "ln_1.bias", (d,)),
            (p + "attn.c_attn.weight", (d, 3 * d)), (p + "attn.c_attn.bias", (3 * d,)),
            (p + "attn.c_proj.weight", (d, d)), (p + "attn.c_proj.bias", (d,)),
            (p + "ln_2.weight", (d,)), (p + "ln_2.bias", (d,)),
            (p + "mlp.c_fc.weight", (d, inner)), (p + "mlp.c_fc.bias", (inner,)),
            (p + "mlp.c_proj.weight", (inner, d)), (p + "mlp.c_proj.bias", (d,)),
        ]
    specs += [("ln_f.weight", (d,)), ("ln_f.bias", (d,))]
    return specs


def init_std(cfg):
    return INIT_ALPHA / math.sqrt(cfg["n_embd"])


def init_chunks(name, shape, cfg, seed, chunk=CHUNK_ELEMS):
    """Yield the float32 values of tensor `name` (flattened, row-major) in chunks.

    Each tensor has its own numpy RandomState (the legacy generator, whose stream numpy
    keeps fixed across versions) seeded with crc32("gpt2-fixture:<seed>:<name>"), so a
    value does not depend on the order tensors are made in or on the chunk size."""
    rs = np.random.RandomState(zlib.crc32(f"gpt2-fixture:{seed}:{name}".encode()))
    n = int(np.prod(shape))
    std = init_std(cfg)
    if name.endswith("c_proj.weight"):
        std = std / math.sqrt(2 * cfg["n_layer"])
    lo, hi = math.log(LN_GAIN_RANGE[0]), math.log(LN_GAIN_RANGE[1])
    is_gain = name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight"))
    is_bias = name.endswith(".bias")
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        if is_gain:
            yield np.exp(rs.uniform(lo, hi, size=m)).astype(np.float32)
        elif is_bias:
            yield (rs.standard_normal(m) * BIAS_STD).astype(np.float32)
        else:
            yield (rs.standard_normal(m) * std).astype(np.float32)


def init_tensor(name, shape, cfg, seed):
    return np.concatenate(list(init_chunks(name, shape, cfg, seed))).reshape(shape)


def init_state(cfg, seed):
    """All tensors as float32 numpy arrays, keyed by HF GPT2LMHeadModel names."""
    return {"transformer." + n: init_tensor(n, s, cfg, seed) for n, s in tensor_specs(cfg)}


def _mask_chunks(P):
    for r in range(P):
        row = np.zeros(P, dtype=np.float32)
        row[: r + 1] = 1.0
        yield row


def write_safetensors(path, entries, metadata):
    """entries: list of (name, shape, np_dtype, chunk_iterable_factory).  Streams data."""
    codes = {np.dtype("float32"): "F32", np.dtype("float16"): "F16"}
    header = {"__metadata__": metadata}
    off = 0
    for name, shape, dt, _ in entries:
        nbytes = int(np.prod(shape)) * np.dtype(dt).itemsize
        header[name] = {"dtype": codes[np.dtype(dt)], "shape": list(shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape, dt, make in entries:
            le = np.dtype(dt).newbyteorder("<")
            for c in make():
                f.write(c.astype(le).tobytes())
    os.replace(tmp, path)
    return off + 8 + len(hb)


def write_checkpoint(out, cfg, seed, dtype="float32", layout="hf", tokenizer_dir=TOKENIZER_DIR):
    os.makedirs(out, exist_ok=True)
    dt = np.dtype(dtype)
    prefix = "transformer." if layout == "hf" else ""
    entries = []
    for name, shape in tensor_specs(cfg):
        entries.append((prefix + name, shape, dt, lambda n=name, s=shape: init_chunks(n, s, cfg, seed)))
        if layout == "legacy" and name.endswith("ln_1.bias"):
            i = name.split(".")[1]
            P = cfg["n_positions"]
            entries.append((f"h.{i}.attn.bias", (1, 1, P, P), np.float32, lambda P=P: _mask_chunks(P)))
    meta = {"format": "pt", "generator": "make_checkpoint.py", "seed": str(seed), "layout": layout,
            "init": f"alpha={INIT_ALPHA} bias_std={BIAS_STD} ln_gain=loguniform{LN_GAIN_RANGE}"}
    size = write_safetensors(os.path.join(out, "model.safetensors"), entries, meta)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"_from_model_config": True, "bos_token_id": EOT_ID, "eos_token_id": EOT_ID}, f, indent=2)
        f.write("\n")
    for fn in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(tokenizer_dir, fn), os.path.join(out, fn))
    return size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--layout", choices=["hf", "legacy"], default="hf")
    a = ap.parse_args(argv)
    for fn in ("vocab.json", "merges.txt"):
        if not os.path.exists(os.path.join(TOKENIZER_DIR, fn)):
            sys.exit(f"missing {os.path.join(TOKENIZER_DIR, fn)}: the GPT-2 tokenizer files belong in Tests/Fixtures/tokenizer")
    cfg = make_config(n_positions=1024, **ARCHS[a.arch])
    n_params = sum(int(np.prod(s)) for _, s in tensor_specs(cfg))
    t0 = time.time()
    size = write_checkpoint(a.out, cfg, a.seed, a.dtype, a.layout)
    print(f"{a.arch}: {n_params:,} parameters, {a.dtype}, layout {a.layout}, "
          f"model.safetensors {size:,} bytes, {time.time() - t0:.1f} s -> {a.out}")


if __name__ == "__main__":
    main()
