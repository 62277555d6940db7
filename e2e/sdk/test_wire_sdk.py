"""The official SDKs' structured outputs, embeddings, Responses API and token count
through Airlock, on both paths a request can take: translated to the canonical
shape (the demo's in-process mock) and on the same wire (an OpenAI-compatible
provider over HTTP, `airlock mock-upstream`), with PII in the input restored in
the output wherever the output echoes it."""

from __future__ import annotations

import anthropic
import openai
import pytest
from pydantic import BaseModel

EMAIL = "maria.lopez@example.com"


@pytest.fixture(scope="module", params=["translated", "same-wire"])
def relay(request):
    """(relay_url, key) of the demo on one of the two paths."""
    name = "airlock" if request.param == "translated" else "same_wire_airlock"
    info = request.getfixturevalue(name)
    return info["relay_url"], info["keys"]["ci"]


@pytest.fixture
def client(relay):
    url, key = relay
    with openai.OpenAI(api_key=key, base_url=url + "/v1", max_retries=0, timeout=30) as c:
        yield c


class Contact(BaseModel):
    reply: str
    count: int
    tags: list[str]


def test_chat_completions_parse_fills_a_pydantic_model_with_pii_restored(client):
    completion = client.chat.completions.parse(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"file {EMAIL}"}],
        response_format=Contact,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Contact)
    assert parsed.reply == f"Mock reply: file {EMAIL}"
    assert parsed.count == 1 and parsed.tags == [f"Mock reply: file {EMAIL}"]


def test_a_json_schema_response_format_comes_back_as_valid_json(client):
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello"}],
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "strict": True,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}},
                       "required": ["a"], "additionalProperties": False}}},
    )
    import json

    assert json.loads(completion.choices[0].message.content) == {"a": "Mock reply: hello"}


def test_embeddings_create_returns_one_vector_per_input(client):
    # The SDK asks for base64 by default and decodes it itself.
    result = client.embeddings.create(
        model="text-embedding-3-small", input=[f"contact {EMAIL}", "second"], dimensions=8
    )
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in result.data)
    assert result.usage.prompt_tokens > 0
    floats = client.embeddings.create(
        model="text-embedding-3-small", input="second", dimensions=8, encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(result.data[1].embedding)


def test_responses_create_answers_with_pii_restored(client):
    response = client.responses.create(
        model="gpt-4o-mini", instructions="be brief", input=f"write to {EMAIL}"
    )
    assert response.status == "completed"
    assert response.output_text == f"Mock reply: write to {EMAIL}"
    assert response.usage.input_tokens > 0


def test_responses_stream_yields_typed_events_and_a_final_response(client):
    with client.responses.stream(model="gpt-4o-mini", input=f"stream to {EMAIL}") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == f"Mock reply: stream to {EMAIL}"
    assert final.output_text == f"Mock reply: stream to {EMAIL}"


def test_responses_parse_fills_a_pydantic_model(client):
    response = client.responses.parse(
        model="gpt-4o-mini", input=f"file {EMAIL}", text_format=Contact
    )
    assert response.output_parsed.reply == f"Mock reply: file {EMAIL}"


def test_anthropic_count_tokens_counts_a_conversation(relay):
    url, key = relay
    claude = anthropic.Anthropic(api_key=key, base_url=url, max_retries=0, timeout=30)
    count = claude.messages.count_tokens(
        model="claude-sonnet-4-5",
        system="be brief",
        messages=[{"role": "user", "content": f"how long is this, {EMAIL}?"}],
    )
    assert count.input_tokens > 0


def test_a_parameter_no_route_can_honour_is_refused_by_name(client):
    # Several answers per request: the output checks guard one, on every route.
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert refused.value.code == "unsupported_parameter"
    assert refused.value.param == "n"
