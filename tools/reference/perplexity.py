#!/usr/bin/env python3
"""Perplexity of the KJV fixture model computed with the code of Hugging Face's perplexity guide
(https://huggingface.co/docs/transformers/perplexity), for `gpt2-quant eval`'s test.

    python tools/reference/perplexity.py   # writes Tests/Fixtures/models/kjv/eval_reference.json

The text is the first 6000 characters of the held-out Gospel of John (Tests/Fixtures/models/kjv/heldout.txt);
two window settings are recorded so that both the first-window and the later-window weighting are checked.
"""
import json
import os

import torch
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "Tests", "Fixtures", "models", "kjv")


def guide_perplexity(model, input_ids, max_length, stride):
    """The guide's loop, unchanged apart from names."""
    seq_len = input_ids.size(1)
    nll_sum, n_tokens, prev_end_loc, windows = 0.0, 0, 0, 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc
        ids = input_ids[:, begin_loc:end_loc]
        target_ids = ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            neg_log_likelihood = model(ids, labels=target_ids).loss
        num_valid_tokens = (target_ids != -100).sum().item()
        num_loss_tokens = num_valid_tokens - target_ids.size(0)
        nll_sum += neg_log_likelihood * num_loss_tokens
        n_tokens += num_loss_tokens
        windows += 1
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return float(torch.exp(nll_sum / n_tokens)), windows


def main():
    model = GPT2LMHeadModel.from_pretrained(MODEL, dtype=torch.float32).eval()
    tokenizer = GPT2TokenizerFast.from_pretrained(MODEL)
    with open(os.path.join(MODEL, "heldout.txt"), encoding="utf-8") as f:
        text = f.read()[:6000]
    input_ids = tokenizer(text, return_tensors="pt").input_ids
    cases = []
    for max_length, stride in [(256, 128), (100, 37)]:
        perplexity, windows = guide_perplexity(model, input_ids, max_length, stride)
        cases.append({"ctx": max_length, "stride": stride, "perplexity": perplexity, "windows": windows})
        print(max_length, stride, perplexity, windows)
    out = {"transformers": __import__("transformers").__version__, "characters": 6000,
           "tokens": input_ids.size(1), "cases": cases}
    with open(os.path.join(MODEL, "eval_reference.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
