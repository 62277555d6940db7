"""The official `openai` Python SDK works against the Airlock relay unchanged."""

from __future__ import annotations

import random
import string

import openai
import pytest

MODEL = "gpt-4o-mini"


def mock_reply(prompt: str) -> str:
    return "Mock reply: " + prompt


@pytest.fixture(scope="module")
def client(relay_url, relay_key):
    with openai.OpenAI(
        api_key=relay_key, base_url=relay_url + "/v1", max_retries=0, timeout=30
    ) as c:
        yield c


def client_with_key(relay_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=relay_url + "/v1", max_retries=0, timeout=30)


def test_a_chat_completion_returns_the_mock_reply_with_token_usage(client):
    prompt = "Say hello to Airlock from the OpenAI SDK."
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
    )
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == mock_reply(prompt)
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_the_reply_answers_the_last_user_message_of_a_conversation(client):
    prompt = "And what is the second question?"
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the first question?"},
            {"role": "assistant", "content": "Mock reply: What is the first question?"},
            {"role": "user", "content": prompt},
        ],
    )
    assert completion.choices[0].message.content == mock_reply(prompt)


def test_a_streamed_chat_completion_delivers_the_same_reply_in_deltas(client):
    prompt = "Stream a greeting through Airlock."
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
    )
    deltas: list[str] = []
    finish_reasons: list[str] = []
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)
    assert "".join(deltas) == mock_reply(prompt)
    assert finish_reasons == ["stop"]


def test_a_stream_with_include_usage_ends_with_a_usage_chunk(client):
    prompt = "Stream a greeting and count the tokens."
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 2
    text = "".join(
        choice.delta.content or "" for chunk in chunks for choice in chunk.choices
    )
    assert text == mock_reply(prompt)

    final = chunks[-1]
    assert final.choices == [], "the usage chunk carries no choices"
    assert final.usage is not None
    assert final.usage.prompt_tokens > 0
    assert final.usage.completion_tokens > 0
    assert final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens
    assert all(chunk.usage is None for chunk in chunks[:-1]), "only the last chunk has usage"


def _lookalike_key(real_key: str) -> str:
    """Same environment prefix and length as a real key, random base62 body."""
    env, _, body = real_key.partition("_")
    alphabet = string.ascii_letters + string.digits
    rng = random.Random(20240501)
    while True:
        fake = "".join(rng.choice(alphabet) for _ in body)
        if fake != body:
            return f"{env}_{fake}"


@pytest.mark.parametrize(
    "kind", ["wrong key that looks like a real one", "garbage that is no key at all"]
)
def test_a_bad_key_is_rejected_as_an_authentication_error(relay_url, relay_key, kind):
    if kind.startswith("wrong"):
        bad_key = _lookalike_key(relay_key)
    else:
        bad_key = "sk-this-is-not-an-airlock-key"
    with client_with_key(relay_url, bad_key) as bad_client:
        with pytest.raises(openai.AuthenticationError) as caught:
            bad_client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Let me in."}]
            )
    err = caught.value
    assert err.status_code == 401
    assert err.code == "invalid_api_key"
    body = err.response.json()
    assert body["error"]["code"] == "invalid_api_key"
    assert body["error"]["type"] == "authentication_error"
    assert bad_key not in err.response.text, "the rejected key must not be echoed back"


def test_listing_models_returns_at_least_one_model(client):
    models = list(client.models.list())
    assert len(models) >= 1
    for model in models:
        assert isinstance(model.id, str) and model.id
