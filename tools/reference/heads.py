#!/usr/bin/env python3
"""Reference fixtures for the GPT-2 models other than GPT2LMHeadModel: GPT2Model (hidden states and sentence
embeddings), GPT2ForSequenceClassification, GPT2ForTokenClassification, GPT2ForQuestionAnswering and
GPT2DoubleHeadsModel, all computed by Hugging Face transformers' own code (float32, eager attention, one CPU thread).

Writes Tests/Fixtures/models/heads/:

  tiny-base, tiny-seqcls, tiny-tokcls, tiny-qa, tiny-double
      Tiny random models (2 layers, n_embd 32, 4 heads, 64 positions, the KJV tokenizer's 4096 entries), each
      written by `model.half().save_pretrained(folder)` exactly as transformers saves that class (F16 tensors;
      `transformer.`-prefixed body names for the head classes, bare names for GPT2Model; config.json with
      `architectures`, `id2label` ...). The body is the same in all five; its weights are drawn wide (embeddings
      std 1.6/sqrt(n_embd), random layer-norm gains and biases, non-zero biases) and every head is scaled to give
      logits of std ~2, with the seed of each head chosen so that no argmax or label order in the references is a
      near-tie (the smallest margins are printed).
      seqcls: 3 labels negative/neutral/positive, pad_token_id 0 (the KJV end-of-text id).
      tokcls: labels O, B-PER, I-PER, B-LOC, I-LOC; the classifier bias is centred on the test tokens so that the
      head predicts several labels and the pipeline's grouping is exercised.
      double: num_labels forced to 1 by transformers, default summary_* settings (cls_index, projection).
  tiny-seqcls-multilabel
      tiny-seqcls's weights (model.safetensors is a link to ../tiny-seqcls/model.safetensors) with
      problem_type "multi_label_classification", so that text-classification applies a sigmoid.
  kjv-base, kjv-seqcls, kjv-tokcls, kjv-qa, kjv-double
      The trained KJV body (Tests/Fixtures/models/kjv, F16, `transformer.`-prefixed names, tied lm_head) without a
      copy of it: kjv-base links model.safetensors to ../../kjv/model.safetensors; the head folders have a
      model.safetensors.index.json with two shards, model-00001-of-00002.safetensors a link to
      ../../kjv/model.safetensors and model-00002-of-00002.safetensors holding only the random F16 head tensors
      under the names transformers gives them for that class (score.weight, classifier.weight/.bias,
      qa_outputs.weight/.bias, multiple_choice_head.summary.weight/.bias). Each folder is loaded back with
      from_pretrained and checked: no missing or unexpected keys, the head equals what was written, the body
      equals kjv's.
  Every folder has vocab.json and merges.txt as links to ../../kjv/, and a reference.json:

    {format, model, class, transformers_version, torch_version, dtype, attn_implementation,
     config: {num_labels, id2label, pad_token_id, problem_type}, position_ids_rule, cases: [...], pipelines: {...}}

  Each case: name, padding ("none" | "right" | "left"), texts, input_ids [B][L], attention_mask [B][L],
  pad_fill (the id at mask-0 positions), position_ids [B][L] (as passed to the model:
  attention_mask.cumsum(-1) - 1 with masked positions set to 1, as generate() prepares them; for unpadded
  input that is 0..L-1), alone_max_abs_diff (see below) and the outputs, at full padded shape:
    all:    last_hidden_state [B][L][C] (after ln_f); hidden_states [n_layer+1][B][L][C] (output_hidden_states;
            [0] is wte+wpe, the last is after ln_f) in tiny-*'s "unpadded" and "right" cases (tiny-double:
            "unpadded-default-mc" and "pad-id-inside-right") and in kjv-*'s 3-token "unpadded" case (not kjv-double).
    base:   embeddings {mean, last, mean_normalized, last_normalized} [B][C]: sentence-transformers' mean pooling
            sum(h*mask)/max(sum(mask), 1e-9), the last mask-1 token's state, and each divided by max(L2 norm, 1e-12).
    seqcls: logits [B][num_labels] (pooled, as the model returns them), pooled_index [B]
            = (arange(L) * (input_ids != pad_token_id)).argmax(-1), which is what transformers pools: it follows
            input_ids, not attention_mask (see the cases "pad-id-inside-right" and "pad5-right").
    tokcls: logits [B][L][num_labels].  qa: start_logits, end_logits [B][L].
    double: input_ids, attention_mask and position_ids are [B][num_choices][L] (position_ids are passed to the
            model flattened to [B*num_choices][L]: transformers 5.24 flattens input_ids and attention_mask itself
            but not position_ids); mc_token_ids [B][num_choices] or null (then transformers takes position L-1);
            mc_logits [B][num_choices]; hidden_states reshaped to [n_layer+1][B][num_choices][L][C].
  Cases: tiny-*: unpadded, right, left, pad-id-inside-right, pad-id-inside-left (+ pad5-right for seqcls);
  kjv-* (short texts): unpadded, right, left, pad-id-inside-right (+ pad5-right); double: unpadded-default-mc,
  right, left, pad-id-inside-right. "pad-id-inside-*" hold id 0 (<|endoftext|>) under mask 1 inside a text and at
  the end of one; "pad5-right" pads with id 5, so seqcls pools at a pad position there (pad positions get
  position id 1 and attend to the row's mask-1 keys at or before them).
  The script asserts, and records as alone_max_abs_diff, that every padded row's outputs at its mask-1 positions
  (hidden states, head outputs; seqcls pooled logits where pooled_index is a mask-1 position; mc_logits) equal the
  same text run alone (unpadded, positions 0..n-1) within 1e-5.

  pipelines (from transformers.pipeline, on the model loaded in float32):
    text-classification (seqcls): top_k=None per text, the default call (top_k 1), and function_to_apply
      "sigmoid" / "none"; function_to_apply_default says which function the default applies.
    token-classification (tokcls): aggregation_strategy none, simple, first, average, max, with the tokens and
      tokenizer offsets. GPT-2's byte-level offsets are NOT trimmed: a token with a leading space starts at the
      space (the fast tokenizer's post-processor is a plain TemplateProcessing, not ByteLevel(trim_offsets)).
    question-answering (qa): transformers 5.24 has REMOVED the question-answering pipeline (pipeline() raises), so
      this script reproduces the transformers 4.x QuestionAnsweringPipeline for a fast tokenizer: the pair encoding
      tokenizer(question, context, truncation="only_second", max_length=384, stride=128, padding="do_not_pad"),
      which for GPT-2 is question ids followed by context ids with no special tokens or separator;
      p_mask = sequence_ids != 1; model(input_ids, attention_mask) without position_ids; span selection by
      transformers' own select_starts_ends/decode_spans (still shipped in pipelines/document_question_answering.py:
      softmax over the context tokens, score = p_start * p_end, start <= end < start + max_answer_len, top-k before
      the context filter); and the character span by 4.x's get_indices (align_to_words: token_to_word /
      word_to_chars in the context, else the token offsets). Byte-level "words" carry their leading space, so
      answers usually start with a space. Quirks kept: select_starts_ends zeroes the probability at position 0
      (a question token here), and top-k is taken before the context filter, so fewer than top_k answers can come
      back. Per example: question, context, input_ids = question_ids + context_ids, sequence_ids, offsets (each
      relative to its own text), context_offsets, start_logits, end_logits, and results for (top_k,
      max_answer_len) in (1, 15), (3, 15), (3, 2): answers [{answer, score, start, end, start_token, end_token}]
      (align_to_words, the 4.x default) and answers_token_offsets (align_to_words=False).

Usage (needs torch, transformers, safetensors, numpy: see tools/reference/requirements.txt):
    python tools/reference/heads.py [--out Tests/Fixtures/models/heads]
The links point at ../../kjv, so OUT/../kjv must be the KJV model (the script itself reads Tests/Fixtures/models/kjv).
Running it twice gives identical files (fixed seeds, one thread).
"""
import argparse
import json
import os
import shutil

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KJV = os.path.join(ROOT, "Tests", "Fixtures", "models", "kjv")

TOL = 1e-5           # alone vs batched
MIN_MARGIN = 0.02    # smallest accepted logit gap behind an argmax or a label order
PAD = 0              # the KJV tokenizer's <|endoftext|>

SEQ_LABELS = ["negative", "neutral", "positive"]
TOK_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
CLASSES = {"base": "GPT2Model", "seqcls": "GPT2ForSequenceClassification", "tokcls": "GPT2ForTokenClassification",
           "qa": "GPT2ForQuestionAnswering", "double": "GPT2DoubleHeadsModel"}
HEAD_PARAMS = {"base": [], "seqcls": ["score.weight"], "tokcls": ["classifier.weight", "classifier.bias"],
               "qa": ["qa_outputs.weight", "qa_outputs.bias"],
               "double": ["multiple_choice_head.summary.weight", "multiple_choice_head.summary.bias"]}

T_WEPT = "And Jesus wept."                                                   # 4 tokens
T_PETER = "Peter went to Jerusalem and Galilee."                             # 8
T_BEGIN = "In the beginning God created the heaven and the earth."           # 11
T_MOSES = "And Moses went up from the plains of Moab unto the mountain of Nebo."  # 17
T_LOVE = "God is love."                                                      # 5
T_JWEPT = "Jesus wept."                                                      # 5
T_EOT_END = "And Jesus wept.<|endoftext|>"                                   # 5, ends with a real id 0
T_EOT_MID = "In the beginning<|endoftext|> God created the earth."           # 9, id 0 at index 3
T_EOT_MID4 = "And God<|endoftext|> said"                                    # 4, id 0 at index 2
T3_WEPT = "And Jesus wept"                                                   # 3
T3_SAID = "And God said"                                                     # 3

SEQ_TEXTS = [T_WEPT, "The LORD is my shepherd; I shall not want.", "Blessed are the meek: for they shall inherit the earth.",
             T_JWEPT, T_MOSES]
TOK_TEXTS = [T_PETER, "Mary and Martha dwelt in Bethany.",
             "Then Paul and Barnabas departed from Antioch unto Cyprus, and preached the word of God.",
             "And David dwelt in the castle; therefore they called it the city of David."]
QA_EXAMPLES = [("Where did Peter go?", T_PETER), ("Who created the heaven?", T_BEGIN), ("Who wept?", T_WEPT)]
QA_SETTINGS = [dict(top_k=1, max_answer_len=15), dict(top_k=3, max_answer_len=15), dict(top_k=3, max_answer_len=2)]


# ---------------------------------------------------------------------------------------------------------- helpers

def fl(a):
    """float32 values as nested lists of the shortest decimals that round-trip in float32."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 0:
        return float(str(a[()]))
    return [fl(x) for x in a]


def tokenizer():
    from transformers import GPT2TokenizerFast
    return GPT2TokenizerFast(os.path.join(KJV, "vocab.json"), os.path.join(KJV, "merges.txt"))


def position_ids(mask):
    mask = torch.as_tensor(mask)
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)


def pad(rows, side, fill):
    L = max(len(r) for r in rows)
    ids, mask = [], []
    for r in rows:
        n = L - len(r)
        ids.append(r + [fill] * n if side != "left" else [fill] * n + r)
        mask.append([1] * len(r) + [0] * n if side != "left" else [0] * n + [1] * len(r))
    return ids, mask


def real_positions(mask_row):
    return [i for i, m in enumerate(mask_row) if m]


def load(kind, folder):
    import transformers
    cls = getattr(transformers, CLASSES[kind])
    model, info = cls.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager",
                                      output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs")}
    assert not bad, f"{folder}: {bad}"
    return model.eval()


def body(model):
    return model if model.__class__.__name__ == "GPT2Model" else model.transformer


def forward(kind, model, ids, mask, pos, mc_token_ids=None):
    """One transformers call. Returns numpy outputs keyed as in reference.json (full padded shapes)."""
    ids, mask, pos = (torch.tensor(x) for x in (ids, mask, pos))
    kw = dict(attention_mask=mask, output_hidden_states=True)
    if kind == "double":
        B, nc, L = ids.shape
        kw["position_ids"] = pos.view(-1, L)
        if mc_token_ids is not None:
            kw["mc_token_ids"] = torch.tensor(mc_token_ids)
    else:
        kw["position_ids"] = pos
    with torch.no_grad():
        out = model(ids, **kw)
        shape = tuple(ids.shape) + (-1,)
        hs = torch.stack([h.reshape(shape) for h in out.hidden_states])
        last = out.last_hidden_state if kind == "base" else out.hidden_states[-1]
        check = body(model)(ids, attention_mask=mask, position_ids=kw["position_ids"]).last_hidden_state
        assert torch.equal(last.reshape(shape), check.reshape(shape))
        r = {"last_hidden_state": last.reshape(shape).numpy(), "hidden_states": hs.numpy()}
        if kind == "seqcls":
            r["logits"] = out.logits.numpy()
            r["token_logits"] = model.score(last).numpy()    # per position, for the alone check
            r["pooled_index"] = (torch.arange(ids.shape[-1]) * (ids != model.config.pad_token_id)).argmax(-1).numpy()
            assert np.array_equal(r["logits"], r["token_logits"][np.arange(len(ids)), r["pooled_index"]])
        elif kind == "tokcls":
            r["logits"] = out.logits.numpy()
        elif kind == "qa":
            r["start_logits"], r["end_logits"] = out.start_logits.numpy(), out.end_logits.numpy()
        elif kind == "double":
            r["mc_logits"] = out.mc_logits.numpy()
    return r


def embeddings(h, mask):
    h = h.astype(np.float64)
    m = np.asarray(mask, dtype=np.float64)[..., None]
    mean = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    last_index = [max(real_positions(row)) for row in mask]
    last = h[np.arange(len(h)), last_index]
    norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return {"mean": fl(mean), "last": fl(last), "mean_normalized": fl(norm(mean)), "last_normalized": fl(norm(last))}


# ------------------------------------------------------------------------------------------------------------ cases

def case_specs(kind, tok, small):
    """name, padding, texts (rows; for double rows of choices), pad_fill, hidden, mc (None | "last" | "default").
    small: the kjv cases, shorter (n_embd 192 makes every position cost 6 times as much)."""
    enc = lambda t: tok(t)["input_ids"]
    specs = []
    if kind == "double":
        if small:
            # no hidden_states here (the other kjv-* folders have the body's; tiny-double has the reshaping)
            specs.append(dict(name="unpadded-default-mc", padding="none", texts=[[T3_WEPT, T3_SAID]], mc="default", hidden=False))
            pairs = [[T_WEPT, T_LOVE], [T_JWEPT, T3_WEPT]]
            specs.append(dict(name="right", padding="right", texts=pairs, mc="last", hidden=False))
            specs.append(dict(name="left", padding="left", texts=pairs, mc="last", hidden=False))
            specs.append(dict(name="pad-id-inside-right", padding="right", texts=[[T_EOT_END, T_EOT_MID4]], mc="last", hidden=False))
        else:
            specs.append(dict(name="unpadded-default-mc", padding="none", texts=[[T_JWEPT, T_LOVE]], mc="default", hidden=True))
            pairs = [[T_WEPT, T_PETER], [T_LOVE, T_BEGIN]]
            specs.append(dict(name="right", padding="right", texts=pairs, mc="last", hidden=False))
            specs.append(dict(name="left", padding="left", texts=pairs, mc="last", hidden=False))
            specs.append(dict(name="pad-id-inside-right", padding="right", texts=[[T_EOT_END, T_EOT_MID]], mc="last", hidden=True))
    elif small:
        batch = [T3_WEPT, T_WEPT, T_LOVE]
        specs.append(dict(name="unpadded", padding="none", texts=[T3_WEPT], hidden=True))
        specs.append(dict(name="right", padding="right", texts=batch, hidden=False))
        specs.append(dict(name="left", padding="left", texts=batch, hidden=False))
        specs.append(dict(name="pad-id-inside-right", padding="right", texts=[T_EOT_END, T_EOT_MID4, T3_SAID], hidden=False))
        if kind == "seqcls":
            specs.append(dict(name="pad5-right", padding="right", texts=[T3_WEPT, T_WEPT], fill=5, hidden=False))
    else:
        batch = [T_WEPT, T_PETER, T_BEGIN]
        specs.append(dict(name="unpadded", padding="none", texts=[T_BEGIN], hidden=True))
        specs.append(dict(name="right", padding="right", texts=batch, hidden=True))
        specs.append(dict(name="left", padding="left", texts=batch, hidden=False))
        specs.append(dict(name="pad-id-inside-right", padding="right", texts=[T_EOT_END, T_EOT_MID, T_LOVE], hidden=False))
        specs.append(dict(name="pad-id-inside-left", padding="left", texts=[T_EOT_END, T_EOT_MID, T_LOVE], hidden=False))
        if kind == "seqcls":
            specs.append(dict(name="pad5-right", padding="right", texts=batch, fill=5, hidden=False))
    for s in specs:
        s.setdefault("fill", PAD)
        s["rows"] = [[enc(t) for t in row] for row in s["texts"]] if kind == "double" else [enc(t) for t in s["texts"]]
    return specs


def build_case(kind, model, spec):
    side = spec["padding"]
    if kind == "double":
        flat = [r for row in spec["rows"] for r in row]
        nc = len(spec["rows"][0])
        ids_f, mask_f = pad(flat, side, spec["fill"])
        ids = [ids_f[i:i + nc] for i in range(0, len(flat), nc)]
        mask = [mask_f[i:i + nc] for i in range(0, len(flat), nc)]
    else:
        ids, mask = pad(spec["rows"], side, spec["fill"])
    if side == "none":
        assert all(all(m) for m in np.asarray(mask).reshape(-1, np.asarray(mask).shape[-1]))
    pos = position_ids(mask).tolist()
    mc = None
    if kind == "double" and spec["mc"] == "last":
        mc = [[max(real_positions(m)) for m in row] for row in mask]
    out = forward(kind, model, ids, mask, pos, mc)

    # Each row (each choice) against the same text run alone.
    worst = 0.0
    flat_ids = np.asarray(ids).reshape(-1, np.asarray(ids).shape[-1])
    flat_mask = np.asarray(mask).reshape(flat_ids.shape)
    L = flat_ids.shape[-1]
    per_token = ["last_hidden_state"] + {"seqcls": ["token_logits"], "tokcls": ["logits"],
                                         "qa": ["start_logits", "end_logits"]}.get(kind, [])
    for b in range(len(flat_ids)):
        real = real_positions(flat_mask[b])
        row = [int(flat_ids[b, i]) for i in real]
        n = len(row)
        if kind == "double":
            alone = forward(kind, model, [[row]], [[[1] * n]], [[list(range(n))]], [[n - 1]])
        else:
            alone = forward(kind, model, [row], [[1] * n], [list(range(n))])
        def flat(x, lead):
            return x.reshape((-1,) + x.shape[lead:])
        for key in per_token:
            batched = flat(out[key], 2 if kind == "double" else 1)[b][real]
            single = flat(alone[key], 2 if kind == "double" else 1)[0]
            worst = max(worst, float(np.abs(batched - single).max()))
        lead = 3 if kind == "double" else 2
        hs_b = out["hidden_states"].reshape((out["hidden_states"].shape[0], -1) + out["hidden_states"].shape[lead:])[:, b][:, real]
        hs_a = alone["hidden_states"].reshape((alone["hidden_states"].shape[0], -1) + alone["hidden_states"].shape[lead:])[:, 0]
        worst = max(worst, float(np.abs(hs_b - hs_a).max()))
        if kind == "double":   # every case's mc token (given or transformers' default L-1) is the last real one
            worst = max(worst, float(abs(out["mc_logits"].reshape(-1)[b] - alone["mc_logits"].reshape(-1)[0])))
        if kind == "seqcls" and flat_mask[b][out["pooled_index"][b]]:
            # pooled at a real token: the same token's logits alone
            p = real.index(int(out["pooled_index"][b]))
            worst = max(worst, float(np.abs(out["logits"][b] - alone["token_logits"][0][p]).max()))
    assert worst <= TOL, f"{spec['name']}: alone vs batched {worst}"

    case = {"name": spec["name"], "padding": side, "texts": spec["texts"], "input_ids": ids, "attention_mask": mask,
            "pad_fill": spec["fill"], "position_ids": pos, "alone_max_abs_diff": float(str(np.float32(worst)))}
    case["last_hidden_state"] = fl(out["last_hidden_state"])
    if spec["hidden"]:
        case["hidden_states"] = fl(out["hidden_states"])
    if kind == "base":
        case["embeddings"] = embeddings(out["last_hidden_state"], mask)
    elif kind == "seqcls":
        case["logits"] = fl(out["logits"])
        case["pooled_index"] = [int(x) for x in out["pooled_index"]]
    elif kind == "tokcls":
        case["logits"] = fl(out["logits"])
    elif kind == "qa":
        case["start_logits"], case["end_logits"] = fl(out["start_logits"]), fl(out["end_logits"])
    elif kind == "double":
        case["mc_token_ids"] = mc
        case["mc_logits"] = fl(out["mc_logits"])
    return case, worst, out


# -------------------------------------------------------------------------------------------------------- pipelines

def pipe_float(x):
    return float(str(np.float32(x)))


def seqcls_pipelines(model, tok):
    from transformers import pipeline
    p = pipeline("text-classification", model=model, tokenizer=tok, top_k=None)
    default = pipeline("text-classification", model=model, tokenizer=tok)
    def clean(res):
        if isinstance(res[0], list):   # top_k=None on one string: a list holding one list
            assert len(res) == 1
            res = res[0]
        return [{"label": r["label"], "score": pipe_float(r["score"])} for r in res]
    first = p(SEQ_TEXTS[0])
    out = {"note": "for one string, pipeline(..., top_k=None) returns a list holding one list of {label, score} "
                   "sorted by score, descending (recorded here without the outer list); the default call (no top_k) "
                   "returns a list of the one best {label, score}",
           "top_k_none_is_nested": isinstance(first[0], list),
           "function_to_apply_default": ("sigmoid" if model.config.problem_type == "multi_label_classification"
                                         or model.config.num_labels == 1 else "softmax"),
           "texts": []}
    for text in SEQ_TEXTS:
        ids = tok(text)["input_ids"]
        entry = {"text": text, "input_ids": ids, "top_k_none": clean(p(text)), "default_call": clean(default(text)),
                 "sigmoid": clean(p(text, function_to_apply="sigmoid")), "none": clean(p(text, function_to_apply="none"))}
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].numpy()
        entry["logits"] = fl(logits)
        f = entry["function_to_apply_default"] = out["function_to_apply_default"]
        probs = 1 / (1 + np.exp(-logits.astype(np.float64))) if f == "sigmoid" else np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert np.allclose(sorted(probs, reverse=True), [r["score"] for r in entry["top_k_none"]], atol=1e-6)
        del entry["function_to_apply_default"]
        out["texts"].append(entry)
    return out


def tokcls_pipelines(model, tok):
    import warnings
    from transformers import pipeline
    out = {"offsets_trimmed": None, "texts": []}
    strategies = ["none", "simple", "first", "average", "max"]
    pipes = {s: pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy=s) for s in strategies}
    trimmed = []
    for text in TOK_TEXTS:
        enc = tok(text, return_offsets_mapping=True)
        offsets = [list(o) for o in enc["offset_mapping"]]
        tokens = tok.convert_ids_to_tokens(enc["input_ids"])
        trimmed += [text[s:e].startswith(" ") for (s, e), t in zip(offsets, tokens) if t.startswith("\u0120")]
        entry = {"text": text, "input_ids": enc["input_ids"], "tokens": tokens, "offsets": offsets}
        for s in strategies:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # "Tokenizer does not support real words, using fallback heuristic"
                ents = pipes[s](text)
            entry[s] = [{k: (pipe_float(v) if k == "score" else int(v) if k in ("start", "end", "index") else v)
                         for k, v in e.items()} for e in ents]
        out["texts"].append(entry)
    # True when tokens that start with a space have offsets that do NOT start at the space.
    out["offsets_trimmed"] = not any(trimmed)
    return out


def qa_answers(model, tok, question, context, top_k=1, max_answer_len=15, align_to_words=True):
    """transformers 4.x QuestionAnsweringPipeline (fast tokenizer), with 5.24's select_starts_ends."""
    from transformers.pipelines.document_question_answering import select_starts_ends
    max_seq_len = min(tok.model_max_length, 384)
    doc_stride = min(max_seq_len // 2, 128)
    question_first = tok.padding_side == "right"
    assert question_first
    enc = tok(text=question, text_pair=context, padding="do_not_pad", truncation="only_second", max_length=max_seq_len,
              stride=doc_stride, return_tensors="np", return_token_type_ids=True, return_overflowing_tokens=True,
              return_offsets_mapping=True, return_special_tokens_mask=True)
    assert len(enc["input_ids"]) == 1, "one span"
    p_mask = np.asarray([[t != 1 for t in enc.sequence_ids(0)]])
    assert tok.cls_token_id is None
    fw = {k: torch.tensor(enc[k][0:1]).long() for k in tok.model_input_names}   # input_ids, attention_mask
    with torch.no_grad():
        out = model(**fw)
    start, end = out.start_logits.numpy(), out.end_logits.numpy()
    starts, ends, scores, _ = select_starts_ends(start, end, p_mask[0].tolist(), enc["attention_mask"][0:1], 1000000,
                                                 top_k, False, max_answer_len)
    e = enc[0]
    answers = []
    for s, t, score in zip(starts, ends, scores):
        s, t = int(s), int(t)
        if align_to_words:
            try:
                a = e.word_to_chars(e.token_to_word(s), sequence_index=1)[0]
                b = e.word_to_chars(e.token_to_word(t), sequence_index=1)[1]
            except Exception:
                a, b = e.offsets[s][0], e.offsets[t][1]
        else:
            a, b = e.offsets[s][0], e.offsets[t][1]
        answers.append({"answer": context[a:b], "score": pipe_float(score), "start": int(a), "end": int(b),
                        "start_token": s, "end_token": t})
    answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
    return enc, start[0], end[0], answers


def qa_pipelines(model, tok):
    out = {"pipeline_available": True, "examples": []}
    try:
        from transformers import pipeline
        pipeline("question-answering", model=model, tokenizer=tok)
    except Exception as err:  # noqa: BLE001 - removed in transformers 5
        out["pipeline_available"] = False
        out["pipeline_error"] = str(err).split("\n")[0]
    for question, context in QA_EXAMPLES:
        enc, start, end, _ = qa_answers(model, tok, question, context)
        q_ids, c_ids = tok(question)["input_ids"], tok(context)["input_ids"]
        ids = enc["input_ids"][0].tolist()
        assert ids == q_ids + c_ids
        entry = {"question": question, "context": context, "input_ids": ids, "question_ids": q_ids, "context_ids": c_ids,
                 "sequence_ids": enc.sequence_ids(0), "offsets": [list(map(int, o)) for o in enc["offset_mapping"][0]],
                 "context_offsets": [list(map(int, o)) for o in tok(context, return_offsets_mapping=True)["offset_mapping"]],
                 "start_logits": fl(start), "end_logits": fl(end), "results": []}
        for st in QA_SETTINGS:
            r = dict(st)
            r["answers"] = qa_answers(model, tok, question, context, **st)[3]
            r["answers_token_offsets"] = qa_answers(model, tok, question, context, align_to_words=False, **st)[3]
            entry["results"].append(r)
        out["examples"].append(entry)
    return out


# ---------------------------------------------------------------------------------------------------------- margins

def gaps(x, adjacent):
    """Gap behind an argmax (top-1 minus top-2), or every gap of the sorted order."""
    s = np.sort(np.asarray(x, dtype=np.float64), axis=-1)[..., ::-1]
    d = s[..., :-1] - s[..., 1:]
    return d.min() if adjacent else d[..., 0].min()


def margin(kind, model, tok, texts):
    """Smallest gap behind what the references decide: labels, label orders, argmaxes, choice orders."""
    if kind == "base":
        return float("inf")
    worst = float("inf")
    rows = [tok(t)["input_ids"] for t in texts]
    if kind == "qa":   # the question-answering inputs: question ids then context ids
        rows += [tok(q)["input_ids"] + tok(c)["input_ids"] for q, c in QA_EXAMPLES]
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row])
            if kind == "seqcls":
                worst = min(worst, gaps(model(ids).logits[0].numpy(), True))
            elif kind == "tokcls":
                worst = min(worst, gaps(model(ids).logits[0].numpy(), False))
            elif kind == "qa":
                o = model(ids)
                worst = min(worst, gaps(o.start_logits[0].numpy(), False), gaps(o.end_logits[0].numpy(), False))
        if kind == "double":
            for pair in [(T_JWEPT, T_LOVE), (T_WEPT, T_PETER), (T_LOVE, T_BEGIN), (T_EOT_END, T_EOT_MID),
                         (T3_WEPT, T3_SAID), (T_WEPT, T_LOVE), (T_JWEPT, T3_WEPT), (T_EOT_END, T_EOT_MID4)]:
                rows = [tok(t)["input_ids"] for t in pair]
                ids, mask = pad(rows, "right", PAD)
                o = model(torch.tensor([ids]), attention_mask=torch.tensor([mask]),
                          position_ids=position_ids(mask), mc_token_ids=torch.tensor([[len(r) - 1 for r in rows]]))
                worst = min(worst, gaps(o.mc_logits[0].numpy(), True))
    return float(worst)


def margin_texts(kind):
    base = [T_WEPT, T_PETER, T_BEGIN, T_MOSES, T_LOVE, T_JWEPT, T_EOT_END, T_EOT_MID, T_EOT_MID4, T3_WEPT, T3_SAID]
    return base + {"seqcls": SEQ_TEXTS, "tokcls": TOK_TEXTS, "qa": [q for q, _ in QA_EXAMPLES]}.get(kind, [])


# ------------------------------------------------------------------------------------------------------- the models

def labels_config(kind, cfg):
    if kind == "seqcls":
        cfg.num_labels = 3
        cfg.id2label = dict(enumerate(SEQ_LABELS))
        cfg.label2id = {v: k for k, v in enumerate(SEQ_LABELS)}
        cfg.pad_token_id = PAD
    elif kind == "tokcls":
        cfg.num_labels = 5
        cfg.id2label = dict(enumerate(TOK_LABELS))
        cfg.label2id = {v: k for k, v in enumerate(TOK_LABELS)}


def fill_body(model, seed):
    """Wide random body weights (the test-models.py scheme), rounded to float16."""
    g = torch.Generator().manual_seed(seed)
    c, L = model.config.n_embd, model.config.n_layer
    std = 1.6 / np.sqrt(c)
    with torch.no_grad():
        for name, p in sorted(body(model).named_parameters()):
            if name.startswith("ln") or ".ln_" in name:
                if name.endswith("weight"):
                    p.copy_(torch.exp(torch.empty(p.shape).uniform_(np.log(0.5), np.log(2.0), generator=g)))
                else:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            else:
                s = std / np.sqrt(2 * L) if name.endswith("c_proj.weight") else std
                p.copy_(torch.randn(p.shape, generator=g) * s)
            p.copy_(p.half().float())


def sample_hidden(model, tok, texts):
    with torch.no_grad():
        return torch.cat([body(model)(torch.tensor([tok(t)["input_ids"]])).last_hidden_state[0] for t in texts])


def fill_head(kind, model, seed, hidden):
    """Random head with logits of std ~2 on the sample hidden states, rounded to float16."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in HEAD_PARAMS[kind]:
            p = model.get_parameter(name)
            if name.endswith("weight"):
                w = torch.randn(p.shape, generator=g)
                p.copy_(w * (2.0 / (hidden @ w.T).std()))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        if kind == "tokcls":
            # Centre each label's logits on the sample tokens so that every label wins somewhere.
            logits = hidden @ model.classifier.weight.T
            model.classifier.bias.copy_(torch.randn(5, generator=g) * 0.3 - logits.mean(0))
        for name in HEAD_PARAMS[kind]:
            p = model.get_parameter(name)
            p.copy_(p.half().float())


def tokcls_label_check(model, tok):
    with torch.no_grad():
        labels = set()
        for t in TOK_TEXTS + [T_WEPT, T_PETER, T_BEGIN]:
            labels |= set(model(torch.tensor([tok(t)["input_ids"]])).logits[0].argmax(-1).tolist())
    return labels


def link(folder, name, target):
    os.symlink(target, os.path.join(folder, name))


def tokenizer_links(folder):
    for f in ("vocab.json", "merges.txt"):
        link(folder, f, os.path.join("..", "..", "kjv", f))


def write_tiny(kind, out, tok):
    import transformers
    from transformers import GPT2Config
    folder = os.path.join(out, "tiny-" + kind)
    texts = margin_texts(kind)
    for attempt in range(50):
        shutil.rmtree(folder, ignore_errors=True)
        cfg = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=64, vocab_size=4096, bos_token_id=0, eos_token_id=0)
        labels_config(kind, cfg)
        torch.manual_seed(0)
        model = getattr(transformers, CLASSES[kind])(cfg).eval()
        fill_body(model, 1234)
        fill_head(kind, model, 100 + attempt, sample_hidden(model, tok, texts))
        model.half().save_pretrained(folder)
        tokenizer_links(folder)
        model = load(kind, folder)
        m = margin(kind, model, tok, texts)
        ok = m >= MIN_MARGIN and (kind != "tokcls" or len(tokcls_label_check(model, tok)) >= 4)
        if ok:
            return folder, model, m, attempt
    raise SystemExit(f"tiny-{kind}: no head seed with margin >= {MIN_MARGIN}")


def write_multilabel(out):
    from transformers import GPT2Config
    folder = os.path.join(out, "tiny-seqcls-multilabel")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    cfg = GPT2Config.from_pretrained(os.path.join(out, "tiny-seqcls"))
    cfg.problem_type = "multi_label_classification"
    cfg.save_pretrained(folder)
    link(folder, "model.safetensors", os.path.join("..", "tiny-seqcls", "model.safetensors"))
    tokenizer_links(folder)
    return folder, load("seqcls", folder)


def write_kjv(kind, out, tok):
    import transformers
    from transformers import GPT2Config
    folder = os.path.join(out, "kjv-" + kind)
    kjv_file = os.path.join(KJV, "model.safetensors")
    with safe_open(kjv_file, "pt") as f:
        kjv = {k: f.get_tensor(k) for k in f.keys()}
    assert all(k.startswith("transformer.") for k in kjv), "the kjv body's names are transformer.-prefixed"
    texts = margin_texts(kind)
    for attempt in range(50):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        cfg = GPT2Config.from_pretrained(KJV)
        labels_config(kind, cfg)
        model = getattr(transformers, CLASSES[kind]).from_pretrained(
            KJV, config=cfg, dtype=torch.float32, attn_implementation="eager").eval()
        cfg = model.config
        cfg.architectures = [CLASSES[kind]]
        cfg.dtype = "float16"
        cfg.save_pretrained(folder)
        tokenizer_links(folder)
        if kind == "base":
            link(folder, "model.safetensors", os.path.join("..", "..", "kjv", "model.safetensors"))
        else:
            fill_head(kind, model, 200 + attempt, sample_hidden(model, tok, texts))
            head = {k: model.get_parameter(k).detach().half().contiguous() for k in HEAD_PARAMS[kind]}
            shard1, shard2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
            link(folder, shard1, os.path.join("..", "..", "kjv", "model.safetensors"))
            save_file(head, os.path.join(folder, shard2), metadata={"format": "pt"})
            weight_map = {k: shard1 for k in kjv}
            weight_map.update({k: shard2 for k in head})
            total = sum(v.numel() * v.element_size() for v in list(kjv.values()) + list(head.values()))
            with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
                f.write("\n")
        loaded = load(kind, folder)
        # The head is what was written, the body is kjv's, the lm_head stays tied.
        for k in HEAD_PARAMS[kind]:
            assert torch.equal(loaded.get_parameter(k), head[k].float()), k
        sd = body(loaded).state_dict()
        for k, v in kjv.items():
            assert torch.equal(sd[k[len("transformer."):]], v.float()), k
        if kind == "double":
            assert torch.equal(loaded.lm_head.weight, loaded.transformer.wte.weight)
        m = margin(kind, loaded, tok, texts)
        ok = m >= MIN_MARGIN and (kind != "tokcls" or len(tokcls_label_check(loaded, tok)) >= 4)
        if ok:
            return folder, loaded, m, attempt
    raise SystemExit(f"kjv-{kind}: no head seed with margin >= {MIN_MARGIN}")


def write_reference(name, kind, folder, model, tok, small):
    import transformers
    cfg = model.config
    ref = {"format": "gpt2-edge-heads-reference-v1", "model": name, "class": CLASSES[kind],
           "transformers_version": transformers.__version__, "torch_version": torch.__version__,
           "dtype": "float32", "attn_implementation": "eager",
           "config": {"num_labels": cfg.num_labels, "id2label": {str(k): v for k, v in cfg.id2label.items()},
                      "pad_token_id": cfg.pad_token_id, "problem_type": cfg.problem_type},
           "position_ids_rule": "attention_mask.cumsum(-1) - 1, masked positions set to 1",
           "cases": [], "pipelines": {}}
    worst = {}
    specs = case_specs(kind, tok, small)
    if name.endswith("multilabel"):
        specs = [s for s in specs if s["name"] == "unpadded"]
    for spec in specs:
        case, diff, _ = build_case(kind, model, spec)
        ref["cases"].append(case)
        worst[spec["name"]] = diff
    if kind == "seqcls":
        ref["pipelines"]["text-classification"] = seqcls_pipelines(model, tok)
    elif kind == "tokcls":
        ref["pipelines"]["token-classification"] = tokcls_pipelines(model, tok)
    elif kind == "qa":
        ref["pipelines"]["question-answering"] = qa_pipelines(model, tok)
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    for f in os.listdir(folder):   # safetensors writes 0600
        if not os.path.islink(os.path.join(folder, f)):
            os.chmod(os.path.join(folder, f), 0o644)
    return worst, ref


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "Fixtures", "models", "heads"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.makedirs(args.out, exist_ok=True)
    tok = tokenizer()
    summary = []

    def done(folder, kind, model, m, attempt, small):
        worst, ref = write_reference(os.path.basename(folder), kind, folder, model, tok, small=small)
        summary.append((os.path.basename(folder), m, attempt, worst))
        if kind == "qa":
            for ex in ref["pipelines"]["question-answering"]["examples"]:
                a = ex["results"][1]["answers"]   # top_k 3
                print(f"{os.path.basename(folder)}: {ex['question']!r} -> {a[0]['answer']!r} score {a[0]['score']:.4f} "
                      f"(next span {a[1]['score']:.4f})")

    for kind in CLASSES:
        folder, model, m, attempt = write_tiny(kind, args.out, tok)
        done(folder, kind, model, m, attempt, small=False)
        if kind == "seqcls":
            mfolder, mmodel = write_multilabel(args.out)
            done(mfolder, kind, mmodel, m, attempt, small=False)
    for kind in CLASSES:
        folder, model, m, attempt = write_kjv(kind, args.out, tok)
        done(folder, kind, model, m, attempt, small=True)
    print("margin: the smallest top-1 minus top-2 logit gap (seqcls and double: the smallest gap of the sorted order)")
    total = 0
    for name, m, attempt, worst in summary:
        folder = os.path.join(args.out, name)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
                   if not os.path.islink(os.path.join(folder, f)))
        total += size
        print(f"{name:24s} {size:>9,} bytes  margin {m:.4f} (head seed attempt {attempt})  "
              f"alone vs batched max |diff| {max(worst.values()):.2e}  " + " ".join(f"{k}={v:.1e}" for k, v in worst.items()))
    print(f"total {total:,} bytes in {args.out}")


if __name__ == "__main__":
    main()
