"""A local HTTP/1.1 server that speaks the LLM providers' wire protocols, for tests and demos.

It replays the recorded streams shipped in ``pipeline/testing/fixtures`` and serves scripted
scenarios (pacing, error statuses with Retry-After, connections cut mid-stream, malformed JSON,
stalls). What it answers is chosen entirely by the request URL, so an embedded server and one in
another process are driven the same way::

    async with open_local_server() as server:
        url = server.base_url(Synthetic(20, pace_ms=5, cut_after=3))
        async with httpx.AsyncClient() as client:
            ...  # POST f"{url}/chat/completions"

Formats, chosen by the request path (after the scenario prefix):

- OpenAI and DashScope: ``…/chat/completions`` (``_openai_wire.py``);
- Anthropic and Anthropic on Vertex: ``…/v1/messages``, ``…/publishers/anthropic/models/…:
  streamRawPredict`` (``_anthropic_wire.py``);
- Gemini: ``…/models/{model}:streamGenerateContent?alt=sse`` / ``:generateContent``
  (``_gemini_wire.py``).

Each is one module implementing ``WireFormat`` (``_wire.py``), registered in ``_formats.py``.
``base_url(scenario, provider)`` returns the base URL a client uses for that provider; the client
appends its normal path.

``open_local_http2_server()`` serves the same scenarios over HTTP/2 with prior knowledge (h2c),
many streams per connection, for requests with ``http2=True``; it counts connections and streams
and records the RST_STREAM frames clients send.
"""

from __future__ import annotations

from ._fixtures import FixtureError as FixtureError
from ._fixtures import default_fixtures_dir as default_fixtures_dir
from ._h2_server import LocalHttp2Server as LocalHttp2Server
from ._h2_server import open_local_http2_server as open_local_http2_server
from ._http_server import Outcome as Outcome
from ._process import spawn_server_process as spawn_server_process
from ._scenarios import Replay as Replay
from ._scenarios import Scenario as Scenario
from ._scenarios import ScenarioDecodeError as ScenarioDecodeError
from ._scenarios import Synthetic as Synthetic
from ._scenarios import decode_scenario as decode_scenario
from ._scenarios import encode_scenario as encode_scenario
from ._server_core import LocalProviderServer as LocalProviderServer
from ._server_core import open_local_server as open_local_server
from ._text import DEFAULT_SCENARIO as DEFAULT_SCENARIO
from ._text import DEMO_TEXT as DEMO_TEXT
from ._urls import scenario_base_url as scenario_base_url
from ._wire import ReceivedRequest as ReceivedRequest
from ._wire import read_send_stamps as read_send_stamps

__all__ = (
    "DEFAULT_SCENARIO",
    "DEMO_TEXT",
    "FixtureError",
    "LocalHttp2Server",
    "LocalProviderServer",
    "Outcome",
    "ReceivedRequest",
    "Replay",
    "Scenario",
    "ScenarioDecodeError",
    "Synthetic",
    "decode_scenario",
    "default_fixtures_dir",
    "encode_scenario",
    "open_local_http2_server",
    "open_local_server",
    "read_send_stamps",
    "scenario_base_url",
    "spawn_server_process",
)
