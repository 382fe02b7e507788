#!/usr/bin/env python3
"""transformers' batched generate() on left-padded prompts, for Tests/GPT2Tests/BatchedGenerationTests.

    python tools/reference/batched-generate.py   # writes Tests/Fixtures/sampling/batched_generation.json

Each case tokenizes several prompts of different lengths with padding_side="left" (the pad token is the eos
token, as GPT-2 has no other), runs greedy generate() in float32 on the KJV fixture model once on the whole
batch and once per prompt alone, and records each row's new tokens (the eos and the padding after it removed)
and whether the row ended with eos. The script checks that each row of the batch equals its prompt alone: that
is the property the Swift side must reproduce (a left-padded row gets positions cumsum(mask) - 1 and a mask
over its padding, so it computes what it computes alone).

Only greedy, min_new_tokens and eos cases are recorded. transformers' repetition penalty and no-repeat n-gram
processors read the padded input_ids, pad tokens included, so with them a padded row can differ from its prompt
alone; gpt2-edge runs every row on its own real tokens (as alone), so those cases are not comparable. Sampled
batches draw from one random stream for all rows in transformers, so they are not comparable either.
"""
import json
import os

import torch
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "Tests", "Fixtures", "models", "kjv")

PROMPTS = [
    "And God said",
    "In the beginning God created the heaven and the earth. And the earth was without form,",
    "Blessed",
    "And the LORD spake unto Moses, saying,",
]

CASES = [
    dict(name="greedy", prompts=PROMPTS, max_new_tokens=24),
    # "." as eos: the rows end at different steps and the finished ones are padded while the others go on.
    dict(name="period_eos", prompts=PROMPTS, max_new_tokens=40, eos_token_id=14),
    dict(name="min_new_tokens", prompts=PROMPTS[:3], max_new_tokens=30, eos_token_id=14, min_new_tokens=20),
    # The pad id (0, <|endoftext|>) also inside a prompt: the mask, not the id, says what is padding.
    dict(name="pad_id_in_text", prompts=["And God said", None], max_new_tokens=16),
]


def new_tokens(row, prompt_width, eos):
    new = row[prompt_width:].tolist()
    if eos in new:
        return new[:new.index(eos)], True
    return new, False


def main():
    torch.manual_seed(0)
    model = GPT2LMHeadModel.from_pretrained(MODEL, dtype=torch.float32).eval()
    tokenizer = GPT2TokenizerFast.from_pretrained(MODEL)
    tokenizer.padding_side = "left"
    tokenizer.pad_token = tokenizer.eos_token
    pad = tokenizer.pad_token_id
    out = {"transformers": __import__("transformers").__version__, "model": "Tests/Fixtures/models/kjv",
           "padding_side": "left", "pad_token_id": pad, "cases": []}
    for case in CASES:
        args = {k: v for k, v in case.items() if k not in ("name", "prompts")}
        eos = args.get("eos_token_id", model.generation_config.eos_token_id)
        prompt_ids = []
        for prompt in case["prompts"]:
            # None: "Blessed are" with <|endoftext|> between its words, so the pad id is real text there.
            prompt_ids.append(tokenizer("Blessed").input_ids + [pad] + tokenizer(" are").input_ids
                              if prompt is None else tokenizer(prompt).input_ids)
        batch = tokenizer.pad({"input_ids": prompt_ids}, return_tensors="pt")
        with torch.no_grad():
            together = model.generate(**batch, do_sample=False, pad_token_id=pad, **args)
        rows = []
        for index, ids in enumerate(prompt_ids):
            tokens, ended = new_tokens(together[index], batch.input_ids.shape[1], eos)
            with torch.no_grad():
                alone = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                       do_sample=False, pad_token_id=pad, **args)
            alone_tokens, alone_ended = new_tokens(alone[0], len(ids), eos)
            assert (alone_tokens, alone_ended) == (tokens, ended), f"{case['name']} row {index}: batch differs from alone"
            rows.append({"prompt_tokens": ids, "attention_mask": batch.attention_mask[index].tolist(),
                         "input_ids": batch.input_ids[index].tolist(), "tokens": tokens, "ended_with_eos": ended,
                         "text": tokenizer.decode(tokens)})
        record = dict(name=case["name"], eos_token_id=eos, rows=rows, **{k: v for k, v in args.items() if k != "eos_token_id"})
        out["cases"].append(record)
        print(case["name"], [(len(r["tokens"]), r["ended_with_eos"], r["text"][:40]) for r in rows])
    path = os.path.join(ROOT, "Tests", "Fixtures", "sampling", "batched_generation.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
