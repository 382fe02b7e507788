#!/usr/bin/env python3
"""Fine-tune the trained KJV GPT-2 into a sequence classifier: the genre of a Bible verse.

Task: which traditional division of the books a King James verse (public domain, Debian's `bible-kjv`, read with
its `bible` program: `apt-get install bible-kjv`) comes from. Eight labels:

    Law               Genesis - Deuteronomy
    History           Joshua - Esther
    Wisdom            Job - Song of Solomon
    Major Prophets    Isaiah - Daniel (with Lamentations)
    Minor Prophets    Hosea - Malachi
    Gospels and Acts  Matthew - Acts
    Pauline Epistles  Romans - Philemon, and Hebrews
    General Epistles and Revelation   James - Revelation

Model: GPT2ForSequenceClassification.from_pretrained(Tests/Fixtures/models/kjv, num_labels=8, pad_token_id=0): the
KJV model's body (trained by train-default-model.py as a language model on every book but John) plus a new `score`
head (8 x 192, no bias), pooled at the last non-pad token. A random, stratified 10% of the verses (seeded) is held
out and never trained on; the rest is fine-tuned on, all parameters, with AdamW, linear warm-up and decay, right
padding with pad id 0 (= <|endoftext|>; a verse never contains it), at most 64 tokens per verse. The held-out split
is held out from the classifier only: the language model saw those verses as text (except John's).

    python tools/reference/train-classifier.py   # one epoch: about 7 minutes on 2 idle CPU threads
    # writes Tests/Fixtures/models/kjv-genre/{config.json, model.safetensors (f16), vocab.json -> ../kjv/vocab.json,
    #        merges.txt -> ../kjv/merges.txt, generation_config.json, heldout.jsonl, eval_reference.json,
    #        train_log.json}

heldout.jsonl: at most --heldout-cap held-out verses (a stratified, seeded subset of the 10%), shuffled, one
{"text", "label"} object per line. eval_reference.json: the accuracy of the SAVED float16 file loaded in
float32 on heldout.jsonl, one verse at a time without padding (argmax of the pooled logits), per-class counts and
accuracy, the majority-class baseline, and the pooled logits (and token ids) of the first 20 held-out verses.

Seeded (--seed) and reproducible up to torch's CPU nondeterminism (thread scheduling of reductions) when the step
plan (--epochs over the training verses) ends training. On a busy machine the --minutes budget may end it first: the
learning rate then follows max(step fraction, time fraction) down to zero, as in train-default-model.py, and the
run (steps done of steps planned) is logged as clock-limited in train_log.json.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "Tests", "Fixtures", "models")

BOOKS = ["Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth", "1 Samuel",
         "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra", "Nehemiah", "Esther", "Job",
         "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel",
         "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai",
         "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
         "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "1 Thessalonians",
         "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James", "1 Peter", "2 Peter",
         "1 John", "2 John", "3 John", "Jude", "Revelation"]
# (label, first book, last book) in canonical order.
GENRES = [("Law", "Genesis", "Deuteronomy"), ("History", "Joshua", "Esther"), ("Wisdom", "Job", "Song of Solomon"),
          ("Major Prophets", "Isaiah", "Daniel"), ("Minor Prophets", "Hosea", "Malachi"),
          ("Gospels and Acts", "Matthew", "Acts"), ("Pauline Epistles", "Romans", "Hebrews"),
          ("General Epistles and Revelation", "James", "Revelation")]
LABELS = [g[0] for g in GENRES]


def genre_of(book):
    index = BOOKS.index(book)
    for label, first, last in GENRES:
        if BOOKS.index(first) <= index <= BOOKS.index(last):
            return label
    raise ValueError(book)


def kjv_verses():
    """[(book, chapter, verse, text)] from the `bible` program (same source and header rule as
    train-default-model.py; verse lines are indented, wrapped continuation lines are not)."""
    raw = subprocess.run(["bible", "gen1:1-rev22:21"], check=True, capture_output=True, text=True).stdout
    verses, current = [], None
    for line in raw.splitlines():
        header = re.fullmatch(r"((?:[1-3] )?[A-Z][A-Za-z ]+?) (\d+)", line.strip())
        if header and not line.startswith(" "):
            current = (header.group(1), int(header.group(2)))
            continue
        verse = re.match(r"\s+(\d+) (.*)", line)
        if verse and current:
            verses.append([current[0], current[1], int(verse.group(1)), verse.group(2).strip()])
        elif line.strip() and verses:
            verses[-1][3] += " " + line.strip()   # a verse wrapped onto the next line
    return [tuple(v) for v in verses]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=os.path.join(MODELS, "kjv"))
    parser.add_argument("--out", default=os.path.join(MODELS, "kjv-genre"))
    parser.add_argument("--seed", type=int, default=1611)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heldout-fraction", type=float, default=0.1)
    parser.add_argument("--heldout-cap", type=int, default=2000)
    parser.add_argument("--train-limit", type=int, default=0, help="stratified subsample of the training verses (0: all)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=12, help="wall-clock budget for the fine-tuning loop")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)

    import transformers
    from transformers import GPT2ForSequenceClassification, GPT2TokenizerFast

    verses = kjv_verses()
    books = sorted({v[0] for v in verses}, key=BOOKS.index)
    assert books == BOOKS, books
    print(f"{len(verses)} verses in {len(books)} books")
    by_label = {label: [] for label in LABELS}
    for v in verses:
        by_label[genre_of(v[0])].append(v)

    # Stratified split: per class, a seeded shuffle; the first round(fraction * n) are held out.
    train, heldout, heldout_file = [], [], []
    for label in LABELS:
        items = by_label[label][:]
        rng.shuffle(items)
        k = round(args.heldout_fraction * len(items))
        heldout += [(v, label) for v in items[:k]]
        train += [(v, label) for v in items[k:]]
    # heldout.jsonl: a stratified subset of the held-out verses (proportional per class), then shuffled.
    cap = min(args.heldout_cap, len(heldout))
    sizes = {label: sum(h[1] == label for h in heldout) for label in LABELS}
    quota = {label: cap * sizes[label] // len(heldout) for label in LABELS}
    for label in sorted(LABELS, key=lambda l: -(cap * sizes[l] % len(heldout)))[:cap - sum(quota.values())]:
        quota[label] += 1                                                       # largest remainders
    for label in LABELS:
        heldout_file += [h for h in heldout if h[1] == label][:quota[label]]
    rng.shuffle(heldout_file)
    if args.train_limit and args.train_limit < len(train):
        limited = []
        for label in LABELS:
            items = [t for t in train if t[1] == label]
            limited += items[:round(args.train_limit * len(items) / len(train))]
        train = limited
    print(f"train {len(train)}, held out {len(heldout)} (heldout.jsonl {len(heldout_file)})")

    tokenizer = GPT2TokenizerFast.from_pretrained(args.base)
    label_id = {label: i for i, label in enumerate(LABELS)}

    def encode(items):
        ids = tokenizer([v[3] for v, _ in items], add_special_tokens=False)["input_ids"]
        truncated = sum(len(x) > args.max_tokens for x in ids)
        return [x[:args.max_tokens] for x in ids], [label_id[label] for _, label in items], truncated

    train_ids, train_labels, train_truncated = encode(train)
    heldout_ids, heldout_labels, heldout_truncated = encode(heldout)
    assert all(0 not in x for x in train_ids + heldout_ids), "a verse contains the pad/eos token"
    mean_tokens = sum(map(len, train_ids)) / len(train_ids)
    print(f"mean {mean_tokens:.1f} tokens per training verse; truncated to {args.max_tokens}: "
          f"train {train_truncated}, held out {heldout_truncated}")

    def batch_tensors(ids_list):
        width = max(map(len, ids_list))
        input_ids = torch.zeros(len(ids_list), width, dtype=torch.long)          # right padding with pad id 0
        attention = torch.zeros(len(ids_list), width, dtype=torch.long)
        for row, ids in enumerate(ids_list):
            input_ids[row, :len(ids)] = torch.tensor(ids)
            attention[row, :len(ids)] = 1
        return input_ids, attention

    def epoch_batches(epoch_rng):
        """Shuffled batches of similar lengths: shuffle, sort within chunks of 50 batches, shuffle the batches."""
        order = list(range(len(train_ids)))
        epoch_rng.shuffle(order)
        batches, chunk = [], args.batch * 50
        for start in range(0, len(order), chunk):
            part = sorted(order[start:start + chunk], key=lambda i: len(train_ids[i]))
            batches += [part[i:i + args.batch] for i in range(0, len(part), args.batch)]
        epoch_rng.shuffle(batches)
        return batches

    model = GPT2ForSequenceClassification.from_pretrained(
        args.base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=label_id, pad_token_id=0,
        dtype=torch.float32)
    model.train()

    def accuracy(ids_list, labels, batch=128):
        """Batched (right-padded) float32 accuracy of the in-memory model."""
        was_training = model.training
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(ids_list), batch):
                input_ids, attention = batch_tensors(ids_list[start:start + batch])
                predicted = model(input_ids=input_ids, attention_mask=attention).logits.argmax(-1)
                correct += (predicted == torch.tensor(labels[start:start + batch])).sum().item()
        model.train(was_training)
        return correct / len(ids_list)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = -(-len(train_ids) // args.batch)
    total_steps = steps_per_epoch * args.epochs
    epoch_rng = random.Random(args.seed + 1)
    log, step, clock_limited, running = [], 0, False, []
    budget = args.minutes * 60
    start = time.time()
    for epoch in range(args.epochs):
        for batch in epoch_batches(epoch_rng):
            progress = max(step / total_steps, (time.time() - start) / budget)
            if progress >= 1:
                clock_limited = True
                break
            lr = args.lr * min(1.0, (step + 1) / args.warmup) * (1 - progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            input_ids, attention = batch_tensors([train_ids[i] for i in batch])
            labels = torch.tensor([train_labels[i] for i in batch])
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            running.append(loss.item())
            if step % 50 == 0:
                entry = {"step": step, "epoch": epoch, "minutes": round((time.time() - start) / 60, 2),
                         "lr": lr, "train_loss": sum(running) / len(running)}
                running = []
                log.append(entry)
                print(json.dumps(entry), flush=True)
        if clock_limited:
            print(f"clock-limited: --minutes reached after {step} of {total_steps} steps", flush=True)
            break
        if epoch == args.epochs - 1:
            break
        entry = {"step": step, "epoch_end": epoch, "minutes": round((time.time() - start) / 60, 2),
                 "heldout_accuracy_f32": accuracy(heldout_ids, heldout_labels)}
        log.append(entry)
        print(json.dumps(entry), flush=True)
    train_minutes = (time.time() - start) / 60
    model.eval()
    final_f32 = accuracy(heldout_ids, heldout_labels)
    print(f"done: {step} steps in {train_minutes:.1f} min; held-out accuracy (f32, all {len(heldout_ids)}): {final_f32:.4f}")

    # Save in float16, with the tokenizer files as links to the base model's.
    os.makedirs(args.out, exist_ok=True)
    model.half().save_pretrained(args.out, safe_serialization=True)
    os.chmod(os.path.join(args.out, "model.safetensors"), 0o644)
    for name in ["vocab.json", "merges.txt"]:
        link = os.path.join(args.out, name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.relpath(os.path.join(args.base, name), args.out), link)
    if os.path.exists(os.path.join(args.base, "generation_config.json")):
        shutil.copyfile(os.path.join(args.base, "generation_config.json"), os.path.join(args.out, "generation_config.json"))
    with open(os.path.join(args.out, "heldout.jsonl"), "w") as f:
        for (book, chapter, verse, text), label in heldout_file:
            f.write(json.dumps({"text": text, "label": label}) + "\n")

    # Reference: the saved f16 file loaded in float32, one verse at a time, no padding.
    saved = GPT2ForSequenceClassification.from_pretrained(args.out, dtype=torch.float32).eval()
    counts = {label: {"n": 0, "correct": 0} for label in LABELS}
    first, confusion, right = [], [[0] * len(LABELS) for _ in LABELS], []
    with torch.no_grad():
        for index, ((book, chapter, verse, text), label) in enumerate(heldout_file):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"][:args.max_tokens]
            logits = saved(torch.tensor([ids])).logits[0]
            predicted = saved.config.id2label[int(logits.argmax())]
            counts[label]["n"] += 1
            counts[label]["correct"] += predicted == label
            right.append(predicted == label)
            confusion[label_id[label]][label_id[predicted]] += 1
            if index < 20:
                first.append({"text": text, "label": label, "ids": ids, "predicted": predicted,
                              "logits": [float(x) for x in logits]})
    n = len(heldout_file)
    correct = sum(c["correct"] for c in counts.values())
    train_counts = {label: train_labels.count(label_id[label]) for label in LABELS}
    majority = max(LABELS, key=lambda label: train_counts[label])
    per_class = {label: {**c, "accuracy": c["correct"] / c["n"]} for label, c in counts.items()}
    john = [right[i] for i, h in enumerate(heldout_file) if h[0][0] == "John"]
    reference = {
        "transformers": transformers.__version__, "torch": torch.__version__,
        "model": "f16 model.safetensors loaded with from_pretrained(dtype=torch.float32)",
        "method": f"one verse at a time, no padding, no special tokens, first {args.max_tokens} tokens, "
                  "argmax of the pooled logits (last token)",
        "labels": LABELS, "verses": n, "correct": correct, "accuracy": correct / n,
        "majority_baseline": {"label": majority, "accuracy": counts[majority]["n"] / n},
        "per_class": per_class,
        "confusion": {"rows": "true label", "columns": "predicted label", "matrix": confusion},
        "first": first,
    }
    with open(os.path.join(args.out, "eval_reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
    print(f"saved f16 in f32, heldout.jsonl ({n}): accuracy {correct / n:.4f}, "
          f"majority baseline ({majority}) {counts[majority]['n'] / n:.4f}")
    for label, c in per_class.items():
        print(f"  {label:34s} {c['correct']:4d}/{c['n']:4d}  {c['accuracy']:.3f}")

    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump({"args": {k: v for k, v in vars(args).items() if k not in ("base", "out")},
                   "base": os.path.relpath(args.base, ROOT), "labels": LABELS,
                   "genres": [{"label": label, "books": [b for b in BOOKS if genre_of(b) == label]} for label in LABELS],
                   "verses": len(verses), "train_verses": len(train_ids), "heldout_verses": len(heldout_ids),
                   "heldout_jsonl_verses": n, "train_counts": train_counts,
                   "heldout_counts": {label: heldout_labels.count(label_id[label]) for label in LABELS},
                   "mean_train_tokens": mean_tokens, "truncated": {"train": train_truncated, "heldout": heldout_truncated},
                   "steps": step, "steps_planned": total_steps, "clock_limited": clock_limited,
                   "train_minutes": round(train_minutes, 2),
                   "heldout_accuracy_f32_in_memory": final_f32,
                   "heldout_jsonl_accuracy_saved_f16_as_f32": correct / n,
                   "heldout_jsonl_john": {"verses": len(john), "accuracy": sum(john) / max(1, len(john)),
                                          "note": "John's verses were never seen by the language model"},
                   "log": log, "torch": torch.__version__, "transformers": transformers.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
