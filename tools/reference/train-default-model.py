#!/usr/bin/env python3
"""Train the small GPT-2-architecture model that gpt2-edge ships as its default and uses as its trained test model.

Corpus: the King James Bible (public domain), from Debian's `bible-kjv-text` package read with its `bible`
program (`apt-get install bible-kjv`). Held out: the Gospel of John (a different part of the corpus), which
never enters training and gives the reported perplexity.

Tokenizer: byte-level BPE with GPT-2's exact scheme (same byte alphabet, same pre-tokenization regex,
`<|endoftext|>`), trained on the training text with Hugging Face `tokenizers`, 4096 entries. The
vocab.json / merges.txt it writes are read by gpt2-edge exactly like GPT-2's own.

Model: GPT2LMHeadModel (gelu_new, tied LM head), n_layer 6, n_embd 192, n_head 6, n_positions 256: 3.5 M
parameters. AdamW, cosine learning-rate schedule, a fixed wall-clock budget on CPU (2 threads by default).

    python tools/reference/train-default-model.py --out build/kjv --minutes 40
    # writes build/kjv/{config.json, model.safetensors (f16), vocab.json, merges.txt, heldout.txt, train_log.json}

Deterministic for a given --seed and step count (the time budget decides the step count; it is logged).
"""
import argparse
import json
import math
import os
import re
import subprocess
import time

import torch


def kjv_chapters():
    """[(book, chapter, text)] from the `bible` program: verses of a chapter joined into one paragraph."""
    raw = subprocess.run(["bible", "gen1:1-rev22:21"], check=True, capture_output=True, text=True).stdout
    chapters, current, verses = [], None, []
    for line in raw.splitlines():
        header = re.fullmatch(r"((?:[1-3] )?[A-Z][A-Za-z ]+?) (\d+)", line.strip())
        if header:
            if current and verses:
                chapters.append((current[0], current[1], " ".join(verses)))
            current, verses = (header.group(1), int(header.group(2))), []
            continue
        verse = re.match(r"\s*\d+ (.*)", line)
        if verse:
            verses.append(verse.group(1).strip())
        elif line.strip() and verses:
            verses[-1] += " " + line.strip()   # a verse wrapped onto the next line
    if current and verses:
        chapters.append((current[0], current[1], " ".join(verses)))
    return chapters


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="build/kjv")
    parser.add_argument("--minutes", type=float, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1611)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--n-layer", type=int, default=6)
    parser.add_argument("--n-embd", type=int, default=192)
    parser.add_argument("--n-head", type=int, default=6)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    chapters = kjv_chapters()
    train_text = "\n\n".join(text for book, _, text in chapters if book != "John")
    heldout_text = "\n\n".join(text for book, _, text in chapters if book == "John")
    with open(os.path.join(args.out, "heldout.txt"), "w") as f:
        f.write(heldout_text + "\n")
    print(f"{len(chapters)} chapters; train {len(train_text):,} chars, held out (John) {len(heldout_text):,} chars")

    from tokenizers import ByteLevelBPETokenizer
    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator([text for book, _, text in chapters if book != "John"], vocab_size=args.vocab_size,
                                  min_frequency=2, special_tokens=["<|endoftext|>"], show_progress=False)
    tokenizer.save_model(args.out)
    eot = tokenizer.token_to_id("<|endoftext|>")
    # One document per chapter, separated by <|endoftext|>.
    train_ids, heldout_ids = [], []
    for book, _, text in chapters:
        ids = tokenizer.encode(text).ids + [eot]
        (heldout_ids if book == "John" else train_ids).extend(ids)
    train = torch.tensor(train_ids, dtype=torch.long)
    heldout = torch.tensor(heldout_ids, dtype=torch.long)
    print(f"tokens: train {len(train):,}, held out {len(heldout):,}, vocabulary {tokenizer.get_vocab_size()}")

    from transformers import GPT2Config, GPT2LMHeadModel
    config = GPT2Config(vocab_size=tokenizer.get_vocab_size(), n_positions=256, n_embd=args.n_embd, n_layer=args.n_layer,
                        n_head=args.n_head, bos_token_id=eot, eos_token_id=eot, resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    model = GPT2LMHeadModel(config)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {parameters:,} parameters")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95))

    def heldout_perplexity():
        model.eval()
        losses = []
        with torch.no_grad():
            for start in range(0, len(heldout) - args.context - 1, args.context):
                x = heldout[start:start + args.context].unsqueeze(0)
                losses.append(model(x, labels=x).loss.item())
        model.train()
        return math.exp(sum(losses) / len(losses))

    budget = args.minutes * 60
    start = time.time()
    step, log = 0, []
    generator = torch.Generator().manual_seed(args.seed)
    warmup = 200
    while time.time() - start < budget:
        progress = (time.time() - start) / budget
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        offsets = torch.randint(0, len(train) - args.context - 1, (args.batch,), generator=generator)
        x = torch.stack([train[o:o + args.context] for o in offsets])
        loss = model(x, labels=x).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 250 == 0:
            entry = {"step": step, "minutes": round((time.time() - start) / 60, 2), "lr": lr, "train_loss": loss.item()}
            if step % 1000 == 0:
                entry["heldout_ppl"] = heldout_perplexity()
            log.append(entry)
            print(json.dumps(entry), flush=True)

    final = heldout_perplexity()
    print(f"done: {step} steps in {(time.time() - start) / 60:.1f} min, held-out perplexity {final:.2f}")
    model.eval()
    model.half().save_pretrained(args.out, safe_serialization=True)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": eot, "eos_token_id": eot}, f, indent=2)
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump({"args": vars(args), "steps": step, "parameters": parameters, "train_tokens": len(train),
                   "heldout_tokens": len(heldout), "heldout_perplexity_f32": final, "log": log,
                   "torch": torch.__version__, "transformers": __import__("transformers").__version__}, f, indent=1)


if __name__ == "__main__":
    main()
