#!/usr/bin/env python3
"""transformers' own text-classification pipeline over a file of lines, timed: the float32 reference beside
`gpt2-edge classify` in tools/bench/classify.sh.

    python3 tools/bench/classify_hf.py FOLDER LINES --threads N [--batch-size B]

Prints one JSON line: {"threads", "batch_size", "lines", "seconds", "lines_per_second", "labels"} where labels are
the predicted label of every line (so the caller can check both runtimes agree).
"""
import argparse
import json
import time

import torch
from transformers import AutoTokenizer, GPT2ForSequenceClassification, pipeline


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("lines")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.lines) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    tokenizer = AutoTokenizer.from_pretrained(args.folder)
    model = GPT2ForSequenceClassification.from_pretrained(args.folder, dtype=torch.float32, attn_implementation="eager").eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    classify(lines[:4], batch_size=args.batch_size)   # warm-up
    start = time.perf_counter()
    with torch.inference_mode():
        results = classify(lines, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    print(json.dumps({"threads": args.threads, "batch_size": args.batch_size, "lines": len(lines), "seconds": seconds,
                      "lines_per_second": len(lines) / seconds, "labels": [r["label"] for r in results]}))


if __name__ == "__main__":
    main()
