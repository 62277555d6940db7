"""The official `anthropic` Python SDK works against the Airlock relay unchanged."""

from __future__ import annotations

import anthropic
import pytest

MODEL = "claude-sonnet-4-5"


def mock_reply(prompt: str) -> str:
    return "Mock reply: " + prompt


@pytest.fixture(scope="module")
def client(relay_url, relay_key):
    with anthropic.Anthropic(
        api_key=relay_key, base_url=relay_url, max_retries=0, timeout=30
    ) as c:
        yield c


def test_a_message_returns_the_mock_reply_with_token_usage(client):
    prompt = "Say hello to Airlock from the Anthropic SDK."
    message = client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": prompt}],
    )
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == mock_reply(prompt)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


def test_a_system_prompt_and_content_blocks_are_accepted(client):
    prompt = "Answer from a content block."
    message = client.messages.create(
        model=MODEL,
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    )
    assert message.content[0].text == mock_reply(prompt)


def test_a_streamed_message_delivers_the_same_reply_and_a_final_message(client):
    prompt = "Stream a greeting through Airlock."
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": prompt}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == mock_reply(prompt)
    assert final.role == "assistant"
    assert final.content[0].type == "text"
    assert final.content[0].text == mock_reply(prompt)
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize(
    "bad_key",
    ["prod_" + "A1b2C3d4E5f6G7h8J9k0L1m2N3p4Q5r6S7t8U9", "garbage that is no key at all"],
    ids=["wrong key that looks like a real one", "garbage that is no key at all"],
)
def test_a_bad_key_is_rejected_as_an_authentication_error(relay_url, bad_key):
    with anthropic.Anthropic(
        api_key=bad_key, base_url=relay_url, max_retries=0, timeout=30
    ) as bad_client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            bad_client.messages.create(
                model=MODEL,
                max_tokens=100,
                messages=[{"role": "user", "content": "Let me in."}],
            )
    err = caught.value
    assert err.status_code == 401
    body = err.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert body["error"].get("code") == "invalid_api_key"
    assert bad_key not in err.response.text, "the rejected key must not be echoed back"
