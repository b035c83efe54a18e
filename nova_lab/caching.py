"""Keys for cached artefacts: a hash of every input that changes the result."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable


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


MANIFEST = "manifest.json"
_FILES = "files"  # in the manifest on disk: every file the folder held when it was complete


def read_manifest(folder: Path) -> dict[str, Any]:
    """What a complete folder says of itself; empty when it is not complete (never written, or files gone)."""
    manifest = _read(folder)
    return {k: v for k, v in manifest.items() if k != _FILES} if manifest and _has_its_files(folder, manifest) else {}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Written last, with the list of the files the folder holds, so a folder is complete only when it
    has a manifest and every file it lists (a vector store or adapter weights removed by hand make it stale)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    write_json(folder / MANIFEST, manifest | {_FILES: files})


def write_whole(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` to a temporary file then renamed over `path`: a stopped run never leaves half a file."""
    tmp = path.with_name(f"{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


def write_json(path: Path, value: Any) -> None:
    """Written whole or not at all (`write_whole`)."""
    write_whole(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str)))


def is_fresh(folder: Path, key: str) -> bool:
    """Made from these inputs (`key`) and still whole."""
    return read_manifest(folder).get("key") == key


def _read(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def _has_its_files(folder: Path, manifest: dict[str, Any]) -> bool:
    files = manifest.get(_FILES)
    return files is not None and all((folder / name).is_file() for name in files)
