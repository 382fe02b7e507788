#!/usr/bin/env python3
"""The KJV model with injected outlier features, for testing how quantization copes with them.

    python tools/reference/outlier-model.py   # Tests/Fixtures/models/kjv-outliers

Real GPT-2 has a few hidden dimensions whose activations are tens of times larger than the rest (outlier
features). This script gives the trained KJV fixture the same trait without changing what it computes: in
every block, for a few dimensions d, the layer-norm gain and bias of ln_1 and ln_2 are multiplied by s (20-60)
and row d of the Conv1D weight that reads that layer norm (c_attn, c_fc; [in, out] layout) is divided by s.
In exact arithmetic the logits are unchanged; the script reports the largest difference after float16 storage.
The tokenizer files, held-out text and generation config are copied; reference.json is not (the test compares
against this model's own float32 logits).
"""
import os
import shutil

import torch
from safetensors.torch import load_file, save_file
from transformers import GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(ROOT, "Tests", "Fixtures", "models", "kjv")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "models", "kjv-outliers")
DIMENSIONS = {7: 20.0, 63: 35.0, 120: 60.0, 181: 45.0}   # hidden dimension → scale


def main():
    tensors = load_file(os.path.join(SOURCE, "model.safetensors"))
    layers = 1 + max(int(name.split(".")[2]) for name in tensors if name.startswith("transformer.h."))
    out = {}
    for name, tensor in tensors.items():
        out[name] = tensor.float()
    for layer in range(layers):
        for norm, reader in (("ln_1", "attn.c_attn"), ("ln_2", "mlp.c_fc")):
            prefix = f"transformer.h.{layer}."
            for d, s in DIMENSIONS.items():
                out[prefix + norm + ".weight"][d] *= s
                out[prefix + norm + ".bias"][d] *= s
                out[prefix + reader + ".weight"][d, :] /= s
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.to(torch.float16).contiguous() for k, v in out.items()}, os.path.join(OUT, "model.safetensors"),
              metadata={"format": "pt"})
    for name in ("config.json", "generation_config.json", "vocab.json", "merges.txt", "heldout.txt"):
        shutil.copyfile(os.path.join(SOURCE, name), os.path.join(OUT, name))

    original = GPT2LMHeadModel.from_pretrained(SOURCE, dtype=torch.float32).eval()
    injected = GPT2LMHeadModel.from_pretrained(OUT, dtype=torch.float32).eval()
    ids = torch.randint(0, original.config.vocab_size, (1, 128), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = original(ids).logits
        b = injected(ids).logits
        hidden = injected(ids, output_hidden_states=True).hidden_states
    print("largest logit difference after float16 storage:", float((a - b).abs().max()))
    normed = injected.transformer.h[3].ln_1(hidden[3])
    magnitude = normed.abs().mean(dim=(0, 1))
    print("ln_1 output of block 3, mean |x|: outlier dims", [round(float(magnitude[d].detach()), 1) for d in DIMENSIONS],
          "median of all", round(float(magnitude.median()), 2))


if __name__ == "__main__":
    main()
