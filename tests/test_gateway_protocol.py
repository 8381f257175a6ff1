"""The gateway's sans-IO protocol core: what it accepts, and the problem it names otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline._gateway import MessageError, Policy, parse_client_message
from pipeline._gateway._protocol import Cancel, Generate

STRICT = Policy()
REQUEST = {"provider": "openai", "model": "m", "messages": [{"role": "user", "content": "hi"}]}


def parse(message: Any, policy: Policy = STRICT) -> Generate | Cancel:
    return parse_client_message(json.dumps(message), policy)


def test_generate_and_cancel_parse() -> None:
    generate = parse({"type": "generate", "id": "a", "request": REQUEST,
                      "stream_options": {"stream_sentences": True}})  # fmt: skip
    assert generate == Generate("a", REQUEST, {"stream_sentences": True})
    assert parse({"type": "cancel", "id": 3}) == Cancel(3)
    # A null key or base URL means "the server's environment": nothing to refuse.
    assert isinstance(parse({"type": "generate", "id": 1, "request": {**REQUEST, "api_key": None}}),
                      Generate)  # fmt: skip


@pytest.mark.parametrize(
    ("message", "problem", "id_"),
    [
        ({"type": "cancel", "id": True}, "id: expected a non-empty string or an integer", None),
        ({"type": "cancel", "id": ""}, "id: expected a non-empty string", None),
        ({"type": "cancel", "id": [1]}, "id: expected", None),
        ({"id": 1}, "type: expected 'generate' or 'cancel', got None", None),
        ({"type": "generate", "id": 1, "request": REQUEST, "stream_options": []},
         "stream_options: expected an object", 1),
        ({"type": "generate", "id": 1, "request": {**REQUEST, "provider_kwargs": {
            "anthropic_vertex": {"service_account_credentials": {"private_key": "x"}}}}},
         "request.provider_kwargs.anthropic_vertex.service_account_credentials: clients may not "
         "send credentials", 1),
        ({"type": "generate", "id": 1, "request": {**REQUEST, "fallbacks": [{}, {
            "provider_kwargs": {"alibaba": {"base_url": "http://x"}}}]}},
         "request.fallbacks[1].provider_kwargs.alibaba.base_url: clients may not choose", 1),
    ],
)  # fmt: skip
def test_refusals_name_the_problem(message: Any, problem: str, id_: Any) -> None:
    with pytest.raises(MessageError) as refused:
        parse(message)
    assert problem in str(refused.value)
    assert refused.value.id == id_


def test_binary_messages_are_refused() -> None:
    with pytest.raises(MessageError, match="binary messages are not accepted"):
        parse_client_message(b"{}", STRICT)


def test_the_policy_lifts_each_refusal_separately() -> None:
    with_key = {"type": "generate", "id": 1, "request": {**REQUEST, "api_key": "sk-own"}}
    with_url = {"type": "generate", "id": 2, "request": {**REQUEST, "base_url": "http://x"}}
    assert isinstance(parse(with_key, Policy(allow_client_keys=True)), Generate)
    with pytest.raises(MessageError, match=r"request\.base_url"):
        parse(with_url, Policy(allow_client_keys=True))
    assert isinstance(parse(with_url, Policy(allow_client_base_url=True)), Generate)
    with pytest.raises(MessageError, match=r"request\.api_key"):
        parse(with_key, Policy(allow_client_base_url=True))
