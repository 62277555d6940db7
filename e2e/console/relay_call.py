"""One chat completion against the Airlock relay with the official `openai` SDK.

    python relay_call.py --base-url http://127.0.0.1:PORT/v1 --key dev_... [--model M] [--prompt P]

Prints exactly one JSON line on stdout:

    {"ok": true, "content": "...", "model": "..."}                 the relay answered
    {"ok": false, "status": 401, "code": "invalid_api_key",
     "type": "...", "message": "..."}                              the relay refused (any HTTP error)

and exits 0 in both cases, so the caller decides what is expected. Anything else (no
connection, a timeout, a bug here) exits 2 with the reason on stderr. The key is never
printed. The browser tests in this folder run it with the venv's python.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# The relay is on loopback: never send that traffic through a proxy from the environment.
for _var in ("NO_PROXY", "no_proxy"):
    _hosts = [h for h in os.environ.get(_var, "").split(",") if h]
    for _h in ("127.0.0.1", "localhost", "::1"):
        if _h not in _hosts:
            _hosts.append(_h)
    os.environ[_var] = ",".join(_hosts)

import openai  # noqa: E402  (after the proxy settings above)


def error_fields(err: openai.APIStatusError) -> dict:
    """code/type/message from an OpenAI-shaped body: {"error": {"code", "type", "message"}}."""
    fields: dict = {"code": getattr(err, "code", None), "type": getattr(err, "type", None), "message": None}
    try:
        body = err.response.json()
    except ValueError:
        body = None
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict):
        for name in ("code", "type", "message"):
            if inner.get(name) is not None:
                fields[name] = inner[name]
    elif body is None:
        fields["message"] = err.response.text[:500]
    return fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the relay's OpenAI base URL: <relay_url>/v1")
    parser.add_argument("--key", required=True, help="the relay key (dev_..., prod_...)")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--prompt", default="Hello from the console browser test.")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds")
    args = parser.parse_args()

    client = openai.OpenAI(api_key=args.key, base_url=args.base_url, max_retries=0, timeout=args.timeout)
    try:
        completion = client.chat.completions.create(
            model=args.model,
            messages=[{"role": "user", "content": args.prompt}],
        )
    except openai.APIStatusError as err:
        result = {"ok": False, "status": err.status_code, **error_fields(err)}
    except openai.APIConnectionError as err:  # includes timeouts
        print(f"relay_call: no answer from {args.base_url}: {err!r}", file=sys.stderr)
        return 2
    else:
        content = completion.choices[0].message.content if completion.choices else None
        result = {"ok": True, "content": content, "model": completion.model}
    finally:
        client.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
