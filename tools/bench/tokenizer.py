#!/usr/bin/env python3
"""Encoding speed of gpt2-edge's tokenizer against Hugging Face `tokenizers` (Rust), in the same run.

Both encode the same text on one thread, and both must produce the same ids (checked). The corpus is
this Python installation's standard library sources (code and English comments), or --text FILE.

    python tools/bench/tokenizer.py [--binary .build/release/gpt2-edge] [--text FILE] [--repeat 3]

Prints MB/s for each and the ratio gpt2-edge / tokenizers.
"""
import argparse
import glob
import json
import os
import subprocess
import sysconfig
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENIZER = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")
# gpt2-edge reads a tokenizer from a model: the micro fixture carries GPT-2's vocab.json and merges.txt unchanged.
MODEL = os.path.join(ROOT, "Tests", "Fixtures", "models", "micro")


def corpus(limit_bytes):
    """Documents (one per source file) until limit_bytes."""
    parts, total = [], 0
    for path in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        parts.append(text)
        total += len(text.encode())
        if total >= limit_bytes:
            break
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "gpt2-edge"))
    parser.add_argument("--text", help="text file to encode (default: Python stdlib sources)")
    parser.add_argument("--megabytes", type=float, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["RAYON_NUM_THREADS"] = "1"
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders

    documents = [open(args.text, encoding="utf-8").read()] if args.text else corpus(int(args.megabytes * 1e6))
    text = "".join(documents)
    size = len(text.encode())
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
        path = f.name

    hf = Tokenizer(models.BPE.from_file(os.path.join(TOKENIZER, "vocab.json"), os.path.join(TOKENIZER, "merges.txt")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(["<|endoftext|>"])

    # tokenizers is timed two ways, and its better time is used: the whole text as one string (what gpt2-edge
    # gets), and one document per source file through encode_batch (its usual use; parallelism is off).
    hf_times, hf_batch_times, ours_times = [], [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        hf_ids = hf.encode(text).ids
        hf_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        hf.encode_batch(documents)
        hf_batch_times.append(time.perf_counter() - start)
        out = subprocess.run([args.binary, "tokenize", "-m", MODEL, "-f", path, "--count-only"],
                             check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)
        ours_times.append(ours["seconds"])
    ids = json.loads(subprocess.run([args.binary, "tokenize", "-m", MODEL, "-f", path],
                                    check=True, capture_output=True, text=True).stdout)["ids"]
    os.unlink(path)
    same = ids == hf_ids
    hf_rate, ours_rate = size / 1e6 / min(hf_times + hf_batch_times), size / 1e6 / min(ours_times)
    print(f"text: {size / 1e6:.1f} MB in {len(documents)} documents, {len(hf_ids):,} tokens, identical ids: {same}")
    print(f"tokenizers (Rust, 1 thread): {size / 1e6 / min(hf_times):6.2f} MB/s one string, "
          f"{size / 1e6 / min(hf_batch_times):6.2f} MB/s encode_batch of documents  (best of {args.repeat})")
    print(f"gpt2-edge:                   {ours_rate:6.2f} MB/s  (best of {args.repeat}, encode only, load excluded)")
    print(f"ratio gpt2-edge / tokenizers: {ours_rate / hf_rate:.2f}x")
    if not same:
        raise SystemExit("ids differ")


if __name__ == "__main__":
    main()
