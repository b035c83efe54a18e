"""What one Bedrock step made (URIs, ids, ARNs, the run's nonce), kept for the steps after it.

`outputs/<run>/bedrock/state.json` is the only hand-over between Bedrock steps: each step reads
what it needs from it (and says which step to run when a part is missing) and adds what it made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nova_lab.core import artefacts
from nova_lab.core.caching import write_json
from nova_lab.core.params import ParamsError
from nova_lab.core.study_steps import Step, run_this


def state_path(run_name: str) -> Path:
    return artefacts.path(artefacts.BEDROCK_STATE, run_name)


def read_state(run_name: str) -> dict[str, Any]:
    """The state so far ({} before 01); a damaged one stops with one line naming it (artefacts.read_record)."""
    return artefacts.read_record(artefacts.BEDROCK_STATE, run_name) or {}


def update_state(run_name: str, **parts: Any) -> dict[str, Any]:
    """Add what a step made. Written whole or not at all: the state holds the ids of billed resources, and a
    file torn by a kill would lose them to every later step and to the teardown."""
    state = read_state(run_name) | parts
    write_json(state_path(run_name), state)
    return state


def needs(state: dict[str, Any], part: str, step: Step, run_name: str) -> Any:
    """The part a step needs from an earlier one; missing, the error says which step to run."""
    if part not in state:
        raise ParamsError(f"no `{part}` in the Bedrock state of this run: {run_this(step, run_name)} on Bedrock first")
    return state[part]
