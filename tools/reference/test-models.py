#!/usr/bin/env python3
"""Write the small GPT-2 test models committed under Tests/Fixtures/models, with reference outputs
computed by Hugging Face transformers (float32, eager attention, one CPU thread).

Each model exercises a different part of the loader and of the config semantics, so that the
Swift suite checks them without ../shared:

  micro          2 layers, n_embd 16, full GPT-2 vocabulary, F16 tensors, `transformer.` names.
                 Small enough to commit (1.7 MB) and real enough to run `gpt2-edge generate`.
  flags-legacy   BF16, hub-style names without prefix plus attn.bias / attn.masked_bias buffers,
                 activation gelu (erf), n_inner 40, epsilon 1e-3, scale_attn_by_inverse_layer_idx.
  flags-sharded  F32 split across two shards with model.safetensors.index.json, activation relu,
                 scale_attn_weights false, reorder_and_upcast_attn true.
  flags-untied   separate lm_head.weight (tie_word_embeddings false), quick_gelu, epsilon 1e-6,
                 a 16-position context.

The trained model (tools/reference/train-default-model.py) is copied in as `kjv`, with references for prompts taken
from its held-out text:
    python tools/reference/test-models.py --trained build/kjv

Usage (needs torch, transformers, safetensors, numpy: see tools/reference/requirements.txt):
    python tools/reference/test-models.py [--out Tests/Fixtures/models]
Running it twice gives identical files.
"""
import argparse
import json
import os
import shutil

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MODELS = {
    "micro": dict(n_layer=2, n_embd=16, n_head=2, n_positions=64, vocab_size=50257, seed=11,
                  dtype="float16", layout="hf", full_logits=False),
    "flags-legacy": dict(n_layer=3, n_embd=24, n_head=3, n_positions=32, vocab_size=300, seed=12,
                         dtype="bfloat16", layout="legacy", full_logits=True,
                         config=dict(activation_function="gelu", n_inner=40, layer_norm_epsilon=1e-3,
                                     scale_attn_by_inverse_layer_idx=True)),
    "flags-sharded": dict(n_layer=2, n_embd=24, n_head=2, n_positions=32, vocab_size=300, seed=13,
                          dtype="float32", layout="sharded", full_logits=True,
                          config=dict(activation_function="relu", scale_attn_weights=False,
                                      reorder_and_upcast_attn=True)),
    "flags-untied": dict(n_layer=1, n_embd=24, n_head=4, n_positions=16, vocab_size=300, seed=14,
                         dtype="float32", layout="hf", full_logits=True, untied=True,
                         config=dict(activation_function="quick_gelu", layer_norm_epsilon=1e-6,
                                     tie_word_embeddings=False)),
}


def make_weights(spec):
    """Random weights with the shared fixtures' scheme (peaked attention, logits std ~2)."""
    rng = np.random.RandomState(spec["seed"])
    c, L = spec["n_embd"], spec["n_layer"]
    inner = spec.get("config", {}).get("n_inner") or 4 * c
    std = 1.6 / np.sqrt(c)
    normal = lambda shape, s: rng.normal(0, s, size=shape).astype(np.float32)
    gain = lambda: np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=(c,))).astype(np.float32)
    w = {"wte.weight": normal((spec["vocab_size"], c), std), "wpe.weight": normal((spec["n_positions"], c), std)}
    for i in range(L):
        p = f"h.{i}."
        w[p + "ln_1.weight"] = gain(); w[p + "ln_1.bias"] = normal((c,), 0.1)
        w[p + "attn.c_attn.weight"] = normal((c, 3 * c), std); w[p + "attn.c_attn.bias"] = normal((3 * c,), 0.1)
        w[p + "attn.c_proj.weight"] = normal((c, c), std / np.sqrt(2 * L)); w[p + "attn.c_proj.bias"] = normal((c,), 0.1)
        w[p + "ln_2.weight"] = gain(); w[p + "ln_2.bias"] = normal((c,), 0.1)
        w[p + "mlp.c_fc.weight"] = normal((c, inner), std); w[p + "mlp.c_fc.bias"] = normal((inner,), 0.1)
        w[p + "mlp.c_proj.weight"] = normal((inner, c), std / np.sqrt(2 * L)); w[p + "mlp.c_proj.bias"] = normal((c,), 0.1)
    w["ln_f.weight"] = gain(); w["ln_f.bias"] = normal((c,), 0.1)
    if spec.get("untied"):
        w["lm_head.weight"] = normal((spec["vocab_size"], c), std)
    return w


def write_model(name, spec, out):
    from transformers import GPT2Config
    folder = os.path.join(out, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    cfg = GPT2Config(n_layer=spec["n_layer"], n_embd=spec["n_embd"], n_head=spec["n_head"],
                     n_positions=spec["n_positions"], vocab_size=spec["vocab_size"],
                     bos_token_id=50256, eos_token_id=50256, **spec.get("config", {}))
    cfg.architectures = ["GPT2LMHeadModel"]
    cfg.save_pretrained(folder)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 50256, "eos_token_id": 50256}, f, indent=2)

    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[spec["dtype"]]
    weights = {k: torch.from_numpy(v).to(dtype).contiguous() for k, v in make_weights(spec).items()}
    if spec["layout"] == "legacy":
        n = spec["n_positions"]
        for i in range(spec["n_layer"]):
            weights[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
            weights[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
        save_file(weights, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    else:
        named = {("lm_head.weight" if k == "lm_head.weight" else "transformer." + k): v for k, v in weights.items()}
        if spec["layout"] == "sharded":
            keys = sorted(named)
            shards = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
                      "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
            weight_map = {}
            for shard, shard_keys in shards.items():
                save_file({k: named[k] for k in shard_keys}, os.path.join(folder, shard), metadata={"format": "pt"})
                weight_map.update({k: shard for k in shard_keys})
            total = sum(v.numel() * v.element_size() for v in named.values())
            with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        else:
            save_file(named, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    # The tokenizer files are links to the one committed copy.
    for f in ("vocab.json", "merges.txt"):
        os.symlink(os.path.join("..", "..", "tokenizer", f), os.path.join(folder, f))
    return folder


def reference(folder, spec, prompts=None):
    """Logits for a few prompts at every position, and greedy continuations, from transformers."""
    from transformers import GPT2LMHeadModel
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    vocab, n_pos = spec["vocab_size"], spec["n_positions"]
    if prompts is None:
        rng = np.random.RandomState(spec["seed"] + 1000)
        prompts = {"single": [int(rng.randint(vocab))],
                   "short": [int(x) for x in rng.randint(0, vocab, size=7)],
                   "long": [int(x) for x in rng.randint(0, vocab, size=n_pos - 8)]}
        if vocab == 50257:
            prompts["text"] = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]  # "The quick brown fox jumps over the lazy dog."
    out = {"format": "gpt2-edge-test-reference-v1", "model": os.path.basename(folder),
           "computed_with": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                             "dtype": "float32", "attn_implementation": "eager"},
           "prompts": []}
    with torch.no_grad():
        for name, ids in prompts.items():
            logits = model(torch.tensor([ids])).logits[0]
            entry = {"name": name, "input_ids": ids,
                     "logsumexp": [float(x) for x in torch.logsumexp(logits, -1)]}
            if spec["full_logits"]:
                entry["logits"] = [[float(x) for x in row] for row in logits]
            else:
                top = torch.topk(logits, 20, dim=-1)
                entry["top20"] = [[[int(i), float(v)] for i, v in zip(ti, tv)] for ti, tv in zip(top.indices, top.values)]
            n_new = min(16, n_pos - len(ids))
            seq = list(ids)
            for _ in range(n_new):
                seq.append(int(torch.argmax(model(torch.tensor([seq])).logits[0, -1])))
            entry["greedy"] = seq[len(ids):]
            generated = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                       max_new_tokens=n_new, do_sample=False, eos_token_id=None, pad_token_id=0)
            entry["greedy_matches_generate"] = generated[0, len(ids):].tolist() == entry["greedy"]
            out["prompts"].append(entry)
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))


def add_trained(source, out):
    """Copies a trained model folder in as `kjv` and computes references on held-out prompts."""
    from tokenizers import ByteLevelBPETokenizer
    folder = os.path.join(out, "kjv")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name in ("config.json", "generation_config.json", "model.safetensors", "vocab.json", "merges.txt", "heldout.txt", "train_log.json"):
        shutil.copy(os.path.join(source, name), os.path.join(folder, name))
    tokenizer = ByteLevelBPETokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"), add_prefix_space=False)
    ids = tokenizer.encode(open(os.path.join(folder, "heldout.txt")).read()).ids
    # Prompts from the held-out Gospel of John, which the model never saw: 1, 12, 64, 128 and 240 tokens.
    prompts = {"single": ids[:1], "short": ids[100:112], "medium": ids[1000:1064], "long": ids[5000:5128], "near_max": ids[9000:9240]}
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    reference(folder, dict(vocab_size=config["vocab_size"], n_positions=config["n_positions"], full_logits=False), prompts)
    print(f"kjv: {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "Fixtures", "models"))
    parser.add_argument("--only", nargs="*", default=list(MODELS))
    parser.add_argument("--trained", help="a folder written by tools/reference/train-default-model.py")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.trained:
        add_trained(args.trained, args.out)
        return
    for name in args.only:
        folder = write_model(name, MODELS[name], args.out)
        reference(folder, MODELS[name])
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if not os.path.islink(os.path.join(folder, f)))
        print(f"{name}: {size:,} bytes in {folder}")


if __name__ == "__main__":
    main()
