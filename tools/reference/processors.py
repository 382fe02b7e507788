#!/usr/bin/env python3
"""Expected outputs of transformers' own logits processors on fixed logits, for Tests/GenerationTests.

    python tools/reference/processors.py   # writes Tests/Fixtures/sampling/processors.json

Each case applies one processor (or the chain generate() builds for sampling, in its order: repetition penalty,
no-repeat n-gram, then temperature, top-k, top-p, min-p, typical-p) to three rows of 40 logits with a fixed
context. Removed tokens (-inf) are written as null.
"""
import json
import os

import torch
from transformers.generation.logits_process import (LogitsProcessorList, MinPLogitsWarper, NoRepeatNGramLogitsProcessor,
                                                    RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper, TypicalLogitsWarper)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    generator = torch.Generator().manual_seed(7)
    rows = torch.randn(3, 40, generator=generator) * 2
    rows[1, :8] = 1.5                      # ties
    rows[2] = rows[2] * 0.3
    rows[2, 17] = 9.0                      # one dominant token
    context = [3, 5, 3, 7, 5, 9, 3, 5]
    input_ids = torch.tensor([context] * 3)

    def one(name, processor, **args):
        return name, [processor], args

    cases = [
        one("repetition_penalty", RepetitionPenaltyLogitsProcessor(1.3), penalty=1.3),
        one("no_repeat_ngram_2", NoRepeatNGramLogitsProcessor(2), size=2),
        one("no_repeat_ngram_3", NoRepeatNGramLogitsProcessor(3), size=3),
        one("temperature", TemperatureLogitsWarper(0.7), temperature=0.7),
        one("top_k_5", TopKLogitsWarper(5), k=5),
        one("top_k_1", TopKLogitsWarper(1), k=1),
        one("top_p_0.3", TopPLogitsWarper(0.3), p=0.3),
        one("top_p_0.9", TopPLogitsWarper(0.9), p=0.9),
        one("min_p_0.1", MinPLogitsWarper(0.1), min_p=0.1),
        one("min_p_0.5", MinPLogitsWarper(0.5), min_p=0.5),
        one("typical_0.2", TypicalLogitsWarper(0.2), mass=0.2),
        one("typical_0.9", TypicalLogitsWarper(0.9), mass=0.9),
        ("chain", [RepetitionPenaltyLogitsProcessor(1.2), NoRepeatNGramLogitsProcessor(2), TemperatureLogitsWarper(0.8),
                   TopKLogitsWarper(12), TopPLogitsWarper(0.95), MinPLogitsWarper(0.02), TypicalLogitsWarper(0.95)],
         dict(penalty=1.2, size=2, temperature=0.8, k=12, p=0.95, min_p=0.02, mass=0.95)),
    ]
    out = {"transformers": __import__("transformers").__version__, "context": context,
           "rows": rows.tolist(), "cases": []}
    for name, processors, args in cases:
        result = LogitsProcessorList(processors)(input_ids, rows.clone())
        out["cases"].append({"name": name, "args": args,
                             "output": [[None if v == float("-inf") else v for v in row] for row in result.tolist()]})
    path = os.path.join(ROOT, "Tests", "Fixtures", "sampling", "processors.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(cases)} cases → {path}")


if __name__ == "__main__":
    main()
