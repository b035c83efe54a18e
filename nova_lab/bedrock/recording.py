"""Record every Bedrock response to a file, and replay it later with no account and no network.

Hooked into botocore's events, so any client records or replays without a wrapper: a recorded
Bedrock study re-renders offline, and the tests run the Bedrock path end to end. A request is
matched by service, operation and parameters (idempotency tokens left out: they may be random);
an error the call ended with (after botocore's retries) is recorded and raised again on replay.
A request made more than once (a poll, a timed repeat) gets its responses back in recorded order,
within the step (and model) that made it, less any error a later response to it replaced; asked
once more than recorded, the replay stops.
A streamed body (an S3 object) is read once, kept in the file as base64 and handed on unchanged;
each call's wall time is kept too, so replayed latencies are the recorded ones, not the replay's.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from pathlib import Path
from typing import Any, Literal

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from nova_lab.core.caching import fingerprint
from nova_lab.data.nova_format import json_lines

IGNORED = {"clientToken", "clientRequestToken"}
BODY = "__streamed_body_base64__"
RECORDED_WALL_MS = "NovaLabRecordedWallMs"  # a replayed response's wall time is the recorded one


class ReplayMissing(LookupError):
    """A replayed run asked for a response the recording does not hold."""


def request_key(service: str, operation: str, params: dict[str, Any]) -> str:
    return fingerprint(service, operation, {k: v for k, v in params.items() if k not in IGNORED})


class Recording:
    """One step's share of a run's recording: `scope` (such as "04_inference/lite") keeps apart the
    same request made by different steps or models, each replayed with its own responses."""

    def __init__(self, path: Path, mode: Literal["record", "replay"], scope: str = ""):
        self.path, self.mode, self.scope, self.lock = path, mode, scope, threading.Lock()
        self.responses: dict[str, list[tuple[int, dict]]] = {}  # request key -> its responses, in recorded order
        self.served: dict[str, int] = {}
        if mode == "replay":
            if not path.is_file():
                raise ReplayMissing(f"no recording at {path}: run with `recording: record` (and an account) first")
            for line in json_lines(path.read_text(encoding="utf-8")):
                entry = json.loads(line)
                if entry.get("scope", "") == scope:
                    self.responses.setdefault(entry["key"], []).append((entry.get("status", 200), entry["response"] | {
                        "ResponseMetadata": {RECORDED_WALL_MS: entry.get("wall_ms")}}))
            for key, answers in self.responses.items():  # an error later answered (a resumed run asked again) is skipped
                self.responses[key] = [a for n, a in enumerate(answers) if a[0] < 300 or n == len(answers) - 1]

    def attach(self, client: Any) -> Any:
        """Make `client` record or replay; returns it."""
        events = client.meta.events
        events.register("before-parameter-build.*.*", self._remember_key)  # sees the API parameters
        if self.mode == "record":
            events.register("after-call.*.*", self._record)
        else:
            events.register("before-call.*.*", self._replay)
        return client

    @staticmethod
    def _remember_key(params: dict, model: Any, context: dict, **kwargs: Any) -> None:
        context["nova_lab_key"] = request_key(model.service_model.service_name, model.name, params)
        context["nova_lab_started"] = time.perf_counter()

    def _record(self, http_response: Any, parsed: dict, context: dict, model: Any, **kwargs: Any) -> None:
        response = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}  # an error too: HeadBucket's 404 is an answer
        for name, value in response.items():
            if isinstance(value, StreamingBody):
                data = value.read()
                parsed[name] = _stream(data)  # the caller reads what it would have read
                response[name] = {BODY: base64.b64encode(data).decode()}
        wall_ms = round((time.perf_counter() - context["nova_lab_started"]) * 1000, 1)
        parsed.setdefault("ResponseMetadata", {})[RECORDED_WALL_MS] = wall_ms  # the caller sees what replay will
        line = json.dumps({"scope": self.scope, "key": context["nova_lab_key"], "operation": model.name,
                           "response": response, "status": http_response.status_code, "wall_ms": wall_ms}, default=str)
        with self.lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def _replay(self, model: Any, context: dict, **kwargs: Any) -> tuple[AWSResponse, dict]:
        key = context["nova_lab_key"]
        with self.lock:  # the same request asked again (a poll, a timed repeat) gets the next recorded response
            served = self.served.get(key, 0)
            self.served[key] = served + 1
        if served >= len(self.responses.get(key, [])):  # never a made-up answer, nor a poll that never ends
            raise ReplayMissing(f"{self.path} holds no {'further ' if served else ''}response to {model.name} with "
                                f"these parameters in {self.scope or 'this run'}; record the run again with a Bedrock account")
        status, recorded = self.responses[key][served]
        response = {name: _stream(base64.b64decode(value[BODY])) if isinstance(value, dict) and BODY in value else value
                    for name, value in recorded.items()}
        return AWSResponse("replay://", status, {}, None), response  # botocore raises a recorded error again


def _stream(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))
