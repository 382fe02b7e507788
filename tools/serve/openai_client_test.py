"""`gpt2-edge serve` through the real `openai` Python client (pytest).

Runs against a server that is already up: GPT2EDGE_URL is its API base (http://127.0.0.1:PORT/v1) and
GPT2EDGE_API_KEY the key it was started with (any string when it has none). tools/serve/openai-client-test.sh
starts one with the built-in King James model and runs this file; to run it by hand:

    GPT2EDGE_URL=http://127.0.0.1:8080/v1 GPT2EDGE_API_KEY=KEY python3 -m pytest -v tools/serve/openai_client_test.py

Every client has max_retries=0: a retry would hide a 5xx, and the error tests want the first answer.
"""

import asyncio
import json
import os
import struct
import urllib.error
import urllib.request

import openai
import pytest

BASE_URL = os.environ.get("GPT2EDGE_URL", "http://127.0.0.1:8080/v1").rstrip("/")
API_KEY = os.environ.get("GPT2EDGE_API_KEY", "no-key")
ROOT_URL = BASE_URL[: -len("/v1")] if BASE_URL.endswith("/v1") else BASE_URL
PROMPT = "And God said"
TIMEOUT = 120


@pytest.fixture(scope="module")
def client():
    return openai.OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def model(client):
    return client.models.list().data[0].id


def raw(method, path, body=None, headers=None):
    """(status, parsed JSON or text) of one plain HTTP request to the server's root, outside the openai client."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ROOT_URL + path, data=data, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def tokenize(text):
    status, body = raw("POST", "/tokenize", {"content": text}, {"Authorization": "Bearer " + API_KEY})
    assert status == 200, (status, body)
    return body["tokens"]


def end_of_text_bias():
    """logit_bias that keeps <|endoftext|> out, so only max_tokens ends a run (its id is the model's own: the
    built-in model's vocabulary is not GPT-2's)."""
    ids = tokenize("<|endoftext|>")
    return {str(ids[0] if len(ids) == 1 else 50256): -100}


def check_usage(usage, prompt_tokens=None):
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage
    if prompt_tokens is not None:
        assert usage.prompt_tokens == prompt_tokens, usage


# --- the happy paths ---


def test_models_list(client):
    models = client.models.list().data
    assert models and isinstance(models[0].id, str) and models[0].id, models
    assert models[0].object == "model"


def test_embeddings(client, model):
    """embeddings.create: the client asks for base64 by default and decodes it; float gives the same numbers."""
    texts = ["In the beginning God created the heaven and the earth.", "Jesus wept."]
    result = client.embeddings.create(model=model, input=texts)
    assert result.object == "list" and [item.index for item in result.data] == [0, 1], result
    width = raw("GET", "/v1/models", headers={"Authorization": "Bearer " + API_KEY})[1]["data"][0]["meta"]["n_embd"]
    for item in result.data:
        assert item.object == "embedding" and len(item.embedding) == width, len(item.embedding)
        assert abs(sum(x * x for x in item.embedding) - 1) < 1e-4   # unit length by default
    assert result.usage.prompt_tokens == sum(len(tokenize(text)) for text in texts) == result.usage.total_tokens
    floats = client.embeddings.create(model=model, input=texts, encoding_format="float")
    for a, b in zip(result.data, floats.data):   # base64 is float32; JSON gives each float32's shortest decimal
        assert a.embedding == [struct.unpack("<f", struct.pack("<f", x))[0] for x in b.embedding]
    # The same text alone or beside another: the same vector.
    alone = client.embeddings.create(model=model, input=texts[1], encoding_format="float").data[0].embedding
    assert alone == floats.data[1].embedding
    # Token ids are inputs too.
    by_ids = client.embeddings.create(model=model, input=[tokenize(texts[1])], encoding_format="float").data[0].embedding
    assert by_ids == alone


def test_embeddings_errors(client, model):
    with pytest.raises(openai.BadRequestError) as error:
        client.embeddings.create(model=model, input=[""])
    assert "empty" in str(error.value)
    with pytest.raises(openai.BadRequestError) as error:
        client.embeddings.create(model=model, input="x", dimensions=7)
    assert "dimensions" in str(error.value)


def test_completion(client, model):
    result = client.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=0)
    assert result.object == "text_completion" and result.id, result
    assert len(result.choices) == 1 and result.choices[0].index == 0
    choice = result.choices[0]
    assert choice.text.strip(), "empty completion: %r" % choice.text
    assert choice.finish_reason in ("length", "stop"), choice.finish_reason
    check_usage(result.usage, prompt_tokens=len(tokenize(PROMPT)))
    if choice.finish_reason == "length":
        assert result.usage.completion_tokens == 8, result.usage
    else:
        assert 1 <= result.usage.completion_tokens <= 8, result.usage


def test_greedy_is_deterministic(client, model):
    texts = {client.completions.create(model=model, prompt=PROMPT, max_tokens=12, temperature=0).choices[0].text
             for _ in range(2)}
    assert len(texts) == 1, texts


def test_sampling_extras_accepted(client, model):
    # The extras the page sends (top_k) and the other documented ones, through extra_body as clients send them.
    result = client.completions.create(
        model=model, prompt=PROMPT, max_tokens=6, temperature=0.8, top_p=0.9, seed=3,
        presence_penalty=0.5, frequency_penalty=0.5, logit_bias=end_of_text_bias(), user="test",
        extra_body={"top_k": 40, "min_p": 0.05, "typical_p": 0.95, "repetition_penalty": 1.1,
                    "no_repeat_ngram_size": 3})
    assert result.choices[0].text, result
    assert result.usage.completion_tokens == 6, result.usage  # end of text is biased away: only length ends it


def test_stream_matches_non_stream(client, model):
    settings = dict(model=model, prompt=PROMPT, max_tokens=24, temperature=0.9, top_p=0.95, seed=1234)
    whole = client.completions.create(**settings)
    chunks = list(client.completions.create(stream=True, stream_options={"include_usage": True}, **settings))
    text_chunks = [c for c in chunks if c.choices]
    streamed = "".join(c.choices[0].text for c in text_chunks)
    assert streamed == whole.choices[0].text, (streamed, whole.choices[0].text)
    assert len(text_chunks) >= 2, "the whole text came in %d chunk(s): not streamed" % len(text_chunks)
    assert all(c.object == "text_completion" for c in chunks)
    finishes = [c.choices[0].finish_reason for c in text_chunks if c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason], finishes
    assert chunks[-1].choices == [] and chunks[-1].usage is not None, "no include_usage chunk last: %r" % chunks[-1]
    assert [c for c in chunks if c.usage is not None] == [chunks[-1]], "usage on more than the last chunk"
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens, (chunks[-1].usage, whole.usage)
    check_usage(chunks[-1].usage, prompt_tokens=whole.usage.prompt_tokens)


def test_stream_without_include_usage(client, model):
    chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=4, temperature=0, stream=True))
    assert chunks and all(c.choices for c in chunks), "a choices-less chunk without include_usage: %r" % chunks
    assert all(c.usage is None for c in chunks), "usage sent without include_usage"


def test_same_seed_alone_and_beside_another(model):
    # Two streams at once (the script starts the server with --parallel 2): each gives what it gave alone.
    async def run():
        async with openai.AsyncOpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=TIMEOUT) as client:
            async def text(prompt, seed):
                stream = await client.completions.create(model=model, prompt=prompt, max_tokens=32,
                                                         temperature=1.0, seed=seed, stream=True)
                return "".join([c.choices[0].text async for c in stream if c.choices])

            alone = [await text(PROMPT, 11), await text("In the beginning", 12)]
            together = await asyncio.gather(text(PROMPT, 11), text("In the beginning", 12))
            return alone, list(together)

    alone, together = asyncio.run(run())
    assert alone == together, (alone, together)


def test_n_choices(client, model):
    result = client.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=1.0, n=3, seed=7,
                                       logit_bias=end_of_text_bias())
    assert sorted(c.index for c in result.choices) == [0, 1, 2], result.choices
    assert all(c.text for c in result.choices), result.choices
    assert all(c.finish_reason == "length" for c in result.choices), result.choices
    assert result.usage.completion_tokens == 3 * 8, result.usage
    check_usage(result.usage, prompt_tokens=len(tokenize(PROMPT)))  # the prompt counts once, as OpenAI counts it


@pytest.mark.parametrize("max_tokens", [0, 1])
def test_logprobs_echo_token_ids(client, model, max_tokens):
    # How lm-evaluation-harness's local-completions scores a text: token ids in, echo, no or one new token.
    text = "And God said, Let there be light: and there was light."
    ids = tokenize(text)
    result = client.completions.create(model=model, prompt=ids, max_tokens=max_tokens, temperature=0,
                                       logprobs=2, echo=True)
    choice = result.choices[0]
    assert choice.text.startswith(text), choice.text
    lp = choice.logprobs
    assert lp is not None, "no logprobs"
    count = len(ids) + max_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == count, \
        (count, len(lp.tokens), len(lp.token_logprobs), len(lp.top_logprobs), len(lp.text_offset), lp.tokens)
    assert "".join(lp.tokens) == choice.text, (lp.tokens, choice.text)
    assert lp.token_logprobs[0] is None, "the first token has no context, so no logprob: %r" % lp.token_logprobs[0]
    assert not lp.top_logprobs[0], "the first token has no alternatives: %r" % lp.top_logprobs[0]
    assert lp.text_offset[0] == 0
    assert all(a < b for a, b in zip(lp.text_offset, lp.text_offset[1:])), lp.text_offset
    assert all(offset == len("".join(lp.tokens[:i])) for i, offset in enumerate(lp.text_offset)), lp.text_offset
    for i in range(1, count):
        logprob, top = lp.token_logprobs[i], lp.top_logprobs[i]
        assert isinstance(logprob, float) and logprob <= 0, (i, logprob)
        # OpenAI: the 2 most likely tokens, and always the token that is there, so 2 or 3 entries.
        assert isinstance(top, dict) and 1 <= len(top) <= 3, (i, top)
        assert all(value <= 0 for value in top.values()), (i, top)
        assert lp.tokens[i] in top and abs(top[lp.tokens[i]] - logprob) < 1e-4, (i, lp.tokens[i], logprob, top)
        assert len(top) <= 2 or min(top.values()) == logprob, "a third entry that is not the token: %r" % ((i, top),)
        assert max(top.values()) >= logprob - 1e-4, (i, lp.tokens[i], logprob, top)
    if max_tokens == 1:
        # Greedy: the generated token is the most likely one (lm-eval's is_greedy check).
        assert abs(lp.token_logprobs[-1] - max(lp.top_logprobs[-1].values())) < 1e-4, \
            (lp.tokens[-1], lp.token_logprobs[-1], lp.top_logprobs[-1])
        assert result.usage.completion_tokens == 1, result.usage
    check_usage(result.usage, prompt_tokens=len(ids))


def test_stop_string(client, model):
    # Greedy text first, then the same request stopping at a stretch from its middle: the text must end right
    # before that stretch's first occurrence, stop string excluded.
    bias = end_of_text_bias()
    free = client.completions.create(model=model, prompt=PROMPT, max_tokens=32, temperature=0,
                                     logit_bias=bias).choices[0].text
    assert len(free) >= 20, free
    stop = free[10:16]
    expected = free[: free.find(stop)]
    for stream in (False, True):
        if stream:
            chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=32, temperature=0,
                                                    logit_bias=bias, stop=[stop], stream=True))
            text = "".join(c.choices[0].text for c in chunks if c.choices)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
            finish = finish[-1] if finish else None
        else:
            choice = client.completions.create(model=model, prompt=PROMPT, max_tokens=32, temperature=0,
                                               logit_bias=bias, stop=[stop]).choices[0]
            text, finish = choice.text, choice.finish_reason
        assert stop not in text, (stream, stop, text)
        assert text == expected, (stream, stop, text, expected)
        assert finish == "stop", (stream, finish)


def test_stop_punctuation(client, model):
    # The King James model puts a comma, colon or full stop within a few words.
    stops = [",", ":", ".", ";"]
    choice = client.completions.create(model=model, prompt=PROMPT, max_tokens=64, temperature=0.7, seed=5,
                                       stop=stops).choices[0]
    assert not any(s in choice.text for s in stops), choice.text
    assert choice.finish_reason == "stop", choice


def test_prompt_batch(client, model):
    prompts = [PROMPT, "In the beginning"]
    alone = [client.completions.create(model=model, prompt=p, max_tokens=6, temperature=0).choices[0].text
             for p in prompts]
    for prompt in (prompts, [tokenize(p) for p in prompts]):
        result = client.completions.create(model=model, prompt=prompt, max_tokens=6, temperature=0)
        assert [c.index for c in result.choices] == [0, 1], result.choices
        assert [c.text for c in result.choices] == alone, ([c.text for c in result.choices], alone)
        check_usage(result.usage, prompt_tokens=sum(len(tokenize(p)) for p in prompts))


def test_tokenize_round_trip():
    ids = tokenize(PROMPT)
    assert ids and all(isinstance(i, int) for i in ids), ids
    status, body = raw("POST", "/detokenize", {"tokens": ids}, {"Authorization": "Bearer " + API_KEY})
    assert status == 200 and body == {"content": PROMPT}, (status, body)


# --- errors ---


@pytest.mark.parametrize("field, arguments", [
    ("temperature", {"temperature": 5}),
    ("max_tokens", {"max_tokens": -1}),
    ("logprobs", {"logprobs": 6}),
    ("stop", {"stop": ["a", "b", "c", "d", "e"]}),
    ("prompt", {"prompt": " the" * 2000}),  # ~2000 tokens: past GPT-2's 1024 positions
])
def test_bad_request(client, model, field, arguments):
    settings = {"model": model, "prompt": PROMPT, "max_tokens": 4, **arguments}
    with pytest.raises(openai.BadRequestError) as raised:
        client.completions.create(**settings)
    error = raised.value.body
    assert isinstance(error, dict), error
    assert error.get("type") == "invalid_request_error", error
    message = error.get("message", "")
    if field == "prompt":
        assert "prompt" in message or "context" in message, message
    else:
        assert field in message, message


def test_wrong_api_key():
    wrong = openai.OpenAI(base_url=BASE_URL, api_key="wrong-" + API_KEY, max_retries=0, timeout=TIMEOUT)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.completions.create(model="gpt2", prompt=PROMPT, max_tokens=1)
    assert isinstance(raised.value.body, dict) and raised.value.body.get("type") == "authentication_error", \
        raised.value.body


def test_api_key_headers():
    body = {"prompt": PROMPT, "max_tokens": 1}
    assert raw("POST", "/v1/completions", body)[0] == 401, "no key accepted"
    assert raw("POST", "/v1/completions", body, {"X-Api-Key": API_KEY})[0] == 200, "X-Api-Key refused"
    assert raw("POST", "/v1/completions", body, {"Authorization": "Bearer " + API_KEY})[0] == 200
    status, health = raw("GET", "/health")
    assert (status, health) == (200, {"status": "ok"}), (status, health)
    status, page = raw("GET", "/")
    assert status == 200 and page.lower().startswith(("<!doctype html", "<html")), (status, page[:200])


def test_chat_completions_rejected(client, model):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello"}])
    assert "chat" in str(raised.value.body).lower(), raised.value.body


def test_unknown_route(client):
    status, body = raw("GET", "/v1/nothing-here", headers={"Authorization": "Bearer " + API_KEY})
    assert status == 404 and isinstance(body, dict) and "error" in body, (status, body)
