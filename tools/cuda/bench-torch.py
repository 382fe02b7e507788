#!/usr/bin/env python3
"""Prompt and decode tok/s of a Hugging Face GPT-2 checkpoint in PyTorch (transformers), the reference that
tools/cuda/bench.sh sets beside `gpt2-edge bench --device cuda`: the same prompt length, the same number of greedy
decode steps with the KV cache, fp16 on the GPU by default. Prints one JSON object.

    tools/cuda/bench-torch.py CHECKPOINT_DIR [-p 128] [-n 128] [-r 3] [--device cuda] [--dtype float16]
"""
import argparse
import inspect
import json
import statistics
import time

import torch
from transformers import GPT2LMHeadModel

parser = argparse.ArgumentParser()
parser.add_argument("checkpoint")
parser.add_argument("-p", type=int, default=128)
parser.add_argument("-n", type=int, default=128)
parser.add_argument("-r", type=int, default=3)
parser.add_argument("--device", default="cuda")
parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
args = parser.parse_args()

device = torch.device(args.device)
model = GPT2LMHeadModel.from_pretrained(args.checkpoint, dtype=getattr(torch, args.dtype)).to(device).eval()
vocabulary = model.config.vocab_size
prompt = torch.tensor([[(i * 7919 + 13) % vocabulary for i in range(args.p)]], device=device)   # as gpt2-edge bench


# transformers 5.x names the KV cache `cache`; older versions `past_key_values`.
CACHE = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def synchronize():
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.inference_mode()
def run():
    synchronize()
    start = time.perf_counter()
    out = model(prompt, use_cache=True)
    synchronize()
    prompt_rate = args.p / (time.perf_counter() - start)
    past, token = out[CACHE], out.logits[:, -1:].argmax(-1)
    start = time.perf_counter()
    for _ in range(args.n):
        out = model(token, **{CACHE: past}, use_cache=True)
        past, token = out[CACHE], out.logits[:, -1:].argmax(-1)
    synchronize()
    return prompt_rate, args.n / (time.perf_counter() - start)


run()   # warm-up: kernels, allocator
rates = [run() for _ in range(args.r)]
prompt_rates, decode_rates = [r[0] for r in rates], [r[1] for r in rates]
sd = lambda values: statistics.stdev(values) if len(values) > 1 else 0.0
print(json.dumps({
    "implementation": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, {args.dtype}",
    "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    "prompt_tokens_per_second": {"mean": statistics.mean(prompt_rates), "sd": sd(prompt_rates)},
    "decode_tokens_per_second": {"mean": statistics.mean(decode_rates), "sd": sd(decode_rates)},
}))
