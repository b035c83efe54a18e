"""Reading JSON out of an LLM's reply, which may wrap it in prose or code fences."""

from __future__ import annotations

import json
import re
from typing import Any


def first_object_with(text: str, key: str) -> dict[str, Any] | None:
    """The first JSON object in `text` that has `key`, or None; braces in the prose around it do not matter."""
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and key in value:
            return value
    return None
