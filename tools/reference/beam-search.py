#!/usr/bin/env python3
"""Expected beam-search outputs of transformers' generate() on the KJV fixture model, for Tests/GenerationTests.

    python tools/reference/beam-search.py   # writes Tests/Fixtures/sampling/beam_search.json

Each case runs generate(num_beams=..., do_sample=False) in float32 and records every returned sequence (new
tokens only, with the end-of-sequence padding removed), whether it ended with end-of-sequence, and its score.
Several cases use a frequent token ("." or ",") as eos_token_id so that beams finish early and the
length-penalty and early-stopping rules decide the result.
"""
import json
import os

import torch
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "Tests", "Fixtures", "models", "kjv")

CASES = [
    dict(name="default", prompt="And God said", num_beams=4, max_new_tokens=24, num_return_sequences=4),
    dict(name="period_eos", prompt="In the beginning", num_beams=3, max_new_tokens=30, eos_token_id=14,
         num_return_sequences=3),
    dict(name="long_penalty_early", prompt="And the LORD spake unto Moses", num_beams=5, max_new_tokens=30,
         eos_token_id=14, length_penalty=2.0, early_stopping=True, num_return_sequences=2),
    dict(name="short_penalty_never", prompt="Blessed are", num_beams=4, max_new_tokens=20, eos_token_id=12,
         length_penalty=-0.5, early_stopping="never", num_return_sequences=4),
    dict(name="processors", prompt="And it came to pass", num_beams=3, max_new_tokens=28, eos_token_id=14,
         no_repeat_ngram_size=3, repetition_penalty=1.3, min_new_tokens=6, num_return_sequences=3),
    dict(name="two_beams_comma", prompt="The earth", num_beams=2, max_new_tokens=16, eos_token_id=12,
         num_return_sequences=1),
]


def main():
    torch.manual_seed(0)
    model = GPT2LMHeadModel.from_pretrained(MODEL, dtype=torch.float32).eval()
    tokenizer = GPT2TokenizerFast.from_pretrained(MODEL)
    out = {"transformers": __import__("transformers").__version__, "model": "Tests/Fixtures/models/kjv", "cases": []}
    for case in CASES:
        args = {k: v for k, v in case.items() if k not in ("name", "prompt")}
        eos = args.get("eos_token_id", model.generation_config.eos_token_id)
        ids = tokenizer(case["prompt"], return_tensors="pt").input_ids
        with torch.no_grad():
            result = model.generate(ids, do_sample=False, return_dict_in_generate=True, output_scores=True,
                                    pad_token_id=eos, **args)
        sequences = []
        for sequence, score in zip(result.sequences, result.sequences_scores):
            new = sequence[ids.shape[1]:].tolist()
            ended = False
            while new and new[-1] == eos:   # padding is eos; a finished beam's own eos is the first of them
                new.pop()
                ended = True
            sequences.append({"tokens": new, "ended_with_eos": ended, "score": float(score),
                              "text": tokenizer.decode(new)})
        record = dict(case, eos_token_id=eos, prompt_tokens=ids[0].tolist(), sequences=sequences)
        record.setdefault("length_penalty", 1.0)
        record.setdefault("early_stopping", False)
        out["cases"].append(record)
        print(case["name"], [s["text"][:60] for s in sequences])
    path = os.path.join(ROOT, "Tests", "Fixtures", "sampling", "beam_search.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
