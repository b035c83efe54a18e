"""Client request tokens: the same request retried gets the same token, a new request a new one.

Bedrock (and OpenSearch Serverless) silently return the first resource for a token they have
seen. A token made from the name alone therefore hands back a deleted resource's id after
`teardown`, or the old resource after a setting changed under the same name. So a token covers
the name, every setting of the request and a nonce kept in the run's state, which `teardown`
replaces: after it, the same request is a new request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, Mapping

from nova_lab.bedrock.state import read_state, update_state


def request_token(name: str, request: Mapping[str, Any], nonce: str) -> str:
    """64 hex characters (every service's token pattern takes them) from name, settings and nonce."""
    blob = json.dumps([name, request, nonce], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(8)


def run_nonce(run_name: str) -> str:
    """The run's nonce from its Bedrock state, made and kept there on first use."""
    return read_state(run_name).get("nonce") or update_state(run_name, nonce=new_nonce())["nonce"]


def rotate_nonce(run_name: str) -> str:
    """A fresh nonce for the run, once teardown has removed what the old one created."""
    return update_state(run_name, nonce=new_nonce())["nonce"]
