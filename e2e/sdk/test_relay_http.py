"""Relay behaviour that the SDKs do not exercise on their own, checked with plain HTTP.

anthropic>=2 sends the key as `Authorization: Bearer`, so the `x-api-key` header that
older Anthropic clients (and many tools) send is checked here directly.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(url: str, body: dict | None = None, headers: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with _NO_PROXY.open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_health_endpoint_answers_ok(relay_url):
    status, _ = _request(relay_url + "/healthz")
    assert status == 200


def test_a_key_in_the_x_api_key_header_is_accepted_on_messages(relay_url, relay_key):
    prompt = "Authenticate with x-api-key."
    status, raw = _request(
        relay_url + "/v1/messages",
        {"model": "claude-sonnet-4-5", "max_tokens": 100,
         "messages": [{"role": "user", "content": prompt}]},
        {"x-api-key": relay_key, "anthropic-version": "2023-06-01"},
    )
    assert status == 200, raw
    assert json.loads(raw)["content"][0]["text"] == "Mock reply: " + prompt


def test_a_key_in_the_x_api_key_header_is_accepted_on_chat_completions(relay_url, relay_key):
    prompt = "Authenticate with x-api-key on the OpenAI route."
    status, raw = _request(
        relay_url + "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]},
        {"x-api-key": relay_key},
    )
    assert status == 200, raw
    assert json.loads(raw)["choices"][0]["message"]["content"] == "Mock reply: " + prompt


def test_a_request_without_any_key_is_rejected_with_invalid_api_key(relay_url):
    status, raw = _request(
        relay_url + "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert status == 401
    assert json.loads(raw)["error"]["code"] == "invalid_api_key"
