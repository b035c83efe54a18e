"""One run on Bedrock as one value: its clients, settings, name and the sleep its polls wait with.

Every Bedrock function that makes, finds or waits for something takes a `BedrockRun` instead of
threading the four by hand; tests build one over moto or stubbed clients and a sleep that returns.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from nova_lab.bedrock import tokens
from nova_lab.bedrock.recording import Recording
from nova_lab.bedrock.resources import Clients
from nova_lab.bedrock.state import state_path
from nova_lab.core.params import BedrockSettings, CommonParams


def open_clients(settings: BedrockSettings, run_name: str, scope: str) -> Clients:
    """The run's AWS clients, recording every response to (or replaying it from) the run's
    `bedrock/recording.jsonl` under `scope` (the step and model) when `settings.recording` asks for it."""
    clients = dataclasses.replace(Clients.create(settings), nonce=tokens.run_nonce(run_name))
    if settings.recording != "off":
        recording = Recording(state_path(run_name).with_name("recording.jsonl"), settings.recording, scope)
        for client in vars(clients).values():
            if hasattr(client, "meta"):  # the boto3 clients, not the run's nonce
                recording.attach(client)
    return clients


@dataclasses.dataclass(frozen=True)
class BedrockRun:
    """One step of a study on Bedrock: what every Bedrock step needs, passed as one."""

    clients: Clients
    settings: BedrockSettings
    name: str  # the run's name: outputs/<name>/, and the nonce of its idempotency tokens
    sleep: Callable[[float], None] = time.sleep  # how polls wait; a replay has nothing to wait for

    @classmethod
    def open(cls, cfg: CommonParams, step: str) -> "BedrockRun":
        """The run of these params for `step`: clients recording or replaying under the step (and model)."""
        model = getattr(cfg, "model", None)
        clients = open_clients(cfg.bedrock, cfg.run_name, f"{step}/{model}" if model else step)
        sleep = (lambda seconds: None) if cfg.bedrock.recording == "replay" else time.sleep
        return cls(clients, cfg.bedrock, cfg.run_name, sleep)
