"""The WebSocket gateway: start ``python -m pipeline serve``, stream, then barge in.

The gateway is started as a subprocess, as you would run it, with its provider pointed at the
local provider server (``OPENAI_BASE_URL``) and a bearer token in ``PIPELINE_GATEWAY_TOKEN``.
The client uses trio-websocket (a dependency of the library); any WebSocket client works.

Run: python examples/gateway_client.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import trio
from trio_websocket import open_websocket_url

from pipeline.testing import Synthetic, scenario_base_url, spawn_server_process

TOKEN = "example-token"
REQUEST = {"provider": "openai", "model": "gpt-4o-mini",
           "messages": [{"role": "user", "content": "Tell me a story."}]}  # fmt: skip


async def talk(url: str) -> None:
    headers = [("Authorization", f"Bearer {TOKEN}")]
    async with open_websocket_url(url, extra_headers=headers) as ws:
        # Turn 1: stream sentences to the end.
        await ws.send_message(json.dumps({
            "type": "generate", "id": "turn-1", "request": REQUEST,
            "stream_options": {"stream_sentences": True},
        }))  # fmt: skip
        while (message := json.loads(await ws.get_message()))["type"] == "chunk":
            if message["chunk"]["type"] == "content_sentence":
                print("sentence:", message["chunk"]["sentence"])
        print("turn-1:", message["type"])
        # Turn 2: the user starts talking after the first delta: cancel (barge-in).
        await ws.send_message(json.dumps({"type": "generate", "id": "turn-2", "request": REQUEST}))
        first = json.loads(await ws.get_message())
        print("turn-2 first:", first["chunk"]["type"])
        await ws.send_message(json.dumps({"type": "cancel", "id": "turn-2"}))
        while (message := json.loads(await ws.get_message()))["type"] == "chunk":
            pass
        print("turn-2:", message)


def main() -> None:
    with spawn_server_process() as provider_root:
        provider_url = scenario_base_url(provider_root, Synthetic(60, pace_ms=5))
        env = dict(os.environ, PIPELINE_GATEWAY_TOKEN=TOKEN, OPENAI_API_KEY="sk-local")
        env["OPENAI_BASE_URL"] = provider_url  # the gateway's provider endpoint
        command = [sys.executable, "-m", "pipeline", "serve", "--port", "0"]
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as gateway:
            try:
                assert gateway.stdout is not None
                ready = gateway.stdout.readline().split()  # READY ws://127.0.0.1:PORT (...)
                trio.run(talk, ready[1])
            finally:
                gateway.terminate()
                gateway.wait()


if __name__ == "__main__":
    main()
