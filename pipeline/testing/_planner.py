"""From (scenario, request, wire format) to the exact response to send.

Pure apart from reading fixture files: the planner decides status, headers and bytes, and which
faults apply to this request (``fail_times`` counts requests per scenario URL).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import Counter
from pathlib import Path

from ._fixtures import chunk_lines, read_fixture
from ._scenarios import Replay, Scenario, Synthetic
from ._wire import ReceivedRequest, ResponsePlan, WireFormat, split_sse_events, uniform_delays

__all__ = ("Planner",)

_JSON = ("content-type", "application/json")
_SSE = (("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"))


class Planner:
    """Turns each routed request into a :class:`ResponsePlan`.

    Args:
        fixtures_dir: Root for ``Replay.fixture`` and ``body_fixture`` paths.

    Raises (from :meth:`plan`):
        FixtureError: the scenario names a missing fixture.
    """

    def __init__(self, fixtures_dir: Path) -> None:
        self.fixtures_dir = fixtures_dir
        self._hits: Counter[str] = Counter()

    def plan(
        self, key: str, scenario: Scenario, fmt: WireFormat, request: ReceivedRequest
    ) -> ResponsePlan:
        """The response to ``request``; ``key`` identifies the scenario URL for ``fail_times``."""
        count = self._hits[key]
        self._hits[key] = count + 1
        faulty = scenario.has_fault and (scenario.fail_times is None or count < scenario.fail_times)
        request_id = ("x-request-id", f"req_local_{key_hash(key)}_{count}")
        if faulty and scenario.status != 200:
            return ResponsePlan(
                status=scenario.status,
                headers=(_JSON, request_id, *scenario.headers),
                events=(self._fault_body(scenario, fmt),),
                stream=False,
            )
        plan = self._content(scenario, fmt, request, request_id)
        if not faulty:
            return plan
        if not plan.stream and scenario.malformed_after is not None:
            # A body cannot gain an event without breaking its content-length: truncate it.
            body = plan.events[0]
            return dataclasses.replace(plan, events=(body[: max(1, len(body) // 2)],))
        return dataclasses.replace(
            plan,
            cut_after=scenario.cut_after,
            cut_with_reset=scenario.cut_with_reset,
            malformed_after=scenario.malformed_after,
            malformed_event=fmt.malformed_event,
            error_after=scenario.error_after,
            error_event=fmt.error_event,
            stall_after=scenario.stall_after,
            stall_seconds=scenario.stall_seconds,
            keepalive_seconds=(
                None if scenario.keepalive_ms is None else scenario.keepalive_ms / 1000.0
            ),
        )

    def _content(
        self,
        scenario: Scenario,
        fmt: WireFormat,
        request: ReceivedRequest,
        request_id: tuple[str, str],
    ) -> ResponsePlan:
        if isinstance(scenario, Synthetic):
            if fmt.wants_stream(request):
                events, delays = fmt.synthetic_stream(scenario, request)
                return ResponsePlan(
                    status=200,
                    headers=(*_SSE, request_id),
                    events=events,
                    delays=delays,
                    stream=True,
                    slice_bytes=scenario.slice_bytes,
                    burst_bytes=scenario.burst_bytes,
                    send_stamps=scenario.send_stamps,
                )
            body = fmt.synthetic_body(scenario, request)
            plan = _body_plan(scenario, body, request_id)
            return dataclasses.replace(plan, send_stamps=scenario.send_stamps)
        data = read_fixture(self.fixtures_dir, scenario.fixture)
        if scenario.fixture.endswith(".json"):
            return _body_plan(scenario, data, request_id)
        if scenario.fixture.endswith(".sse"):
            events = split_sse_events(data)
        else:
            events = fmt.wrap_payloads(chunk_lines(data))
        return ResponsePlan(
            status=200,
            headers=(*_SSE, request_id),
            events=events,
            delays=uniform_delays(len(events), scenario.first_token_delay_ms, scenario.pace_ms),
            stream=True,
            slice_bytes=scenario.slice_bytes,
            burst_bytes=scenario.burst_bytes,
        )

    def _fault_body(self, scenario: Scenario, fmt: WireFormat) -> bytes:
        if scenario.body is not None:
            return scenario.body.encode()
        if scenario.body_fixture is not None:
            return read_fixture(self.fixtures_dir, scenario.body_fixture)
        if isinstance(scenario, Replay) and scenario.fixture.endswith(".json"):
            return read_fixture(self.fixtures_dir, scenario.fixture)
        return fmt.error_body(scenario.status, "")


def _body_plan(scenario: Scenario, body: bytes, request_id: tuple[str, str]) -> ResponsePlan:
    """A whole JSON body, sent after the first-token delay (the time to generate it)."""
    return ResponsePlan(
        status=200,
        headers=(_JSON, request_id),
        events=(body,),
        head_delay=scenario.first_token_delay_ms / 1000.0,
        stream=False,
        slice_bytes=scenario.slice_bytes,
    )


def key_hash(key: str) -> str:
    """A short stable tag for a scenario URL (used in request ids)."""
    return f"{zlib.crc32(key.encode()):08x}"
