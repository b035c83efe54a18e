"""Record every Bedrock response to a file, and replay it later with no account and no network.

Hooked into botocore's events, so any client records or replays without a wrapper: a recorded
Bedrock study re-renders offline, and the tests run the Bedrock path end to end. A request is
matched by service, operation and parameters (idempotency tokens left out: they may be random).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Literal

from botocore.awsrequest import AWSResponse

from nova_lab.caching import fingerprint

IGNORED = {"clientToken", "clientRequestToken"}


class ReplayMissing(LookupError):
    """A replayed run asked for a response the recording does not hold."""


def request_key(service: str, operation: str, params: dict[str, Any]) -> str:
    return fingerprint(service, operation, {k: v for k, v in params.items() if k not in IGNORED})


class Recording:
    def __init__(self, path: Path, mode: Literal["record", "replay"]):
        self.path, self.mode, self.lock = path, mode, threading.Lock()
        self.responses: dict[str, Any] = {}
        if mode == "replay":
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                self.responses[entry["key"]] = entry["response"]

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

    def _record(self, http_response: Any, parsed: dict, context: dict, model: Any, **kwargs: Any) -> None:
        if http_response.status_code >= 300:
            return  # an error is not an answer: a replay without it asks again (and says it is missing)
        response = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
        line = json.dumps({"key": context["nova_lab_key"], "operation": model.name, "response": response}, default=str)
        with self.lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def _replay(self, model: Any, context: dict, **kwargs: Any) -> tuple[AWSResponse, dict]:
        key = context["nova_lab_key"]
        if key not in self.responses:
            raise ReplayMissing(f"{self.path} holds no response to {model.name} with these parameters; "
                                f"record the run again with a Bedrock account")
        return AWSResponse("replay://", 200, {}, None), dict(self.responses[key])
