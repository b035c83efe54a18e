"""Keys for cached artefacts: a hash of every input that changes the result."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable inputs (order of dict keys does not matter)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Written last, so a folder with a manifest is complete and one without is not."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    tmp.replace(folder / "manifest.json")


def is_fresh(folder: Path, key: str) -> bool:
    return read_manifest(folder).get("key") == key
