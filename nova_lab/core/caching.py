"""Keys for cached artefacts: a hash of every input that changes the result; and the checks that a cache on
disk is still what was written (a damaged cache is made again, with a warning that names it)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any, Callable

from nova_lab.core import paths


class DamagedCacheWarning(UserWarning):
    """A cache on disk that cannot be read, or whose files changed since they were written: it is made again."""


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
_FILES = "files"  # in the manifest on disk: every file the folder held when it was complete, with its digest


def read_manifest(folder: Path) -> dict[str, Any]:
    """What a complete folder says of itself; empty when it is not complete (never written, or files gone or
    changed since: a truncated table or an overwritten vector file is made again, not trusted)."""
    if not (folder / MANIFEST).exists():
        return {}
    manifest = read_json_object(folder / MANIFEST)
    changed = [MANIFEST] if manifest is None else _changed_files(folder, manifest.get(_FILES))
    if changed:
        warnings.warn(f"{paths.shareable(folder)}: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''} "
                      f"gone or damaged since {MANIFEST} was written: it is not used (its step makes it again)",
                      DamagedCacheWarning, stacklevel=2)
        return {}
    return {k: v for k, v in manifest.items() if k != _FILES}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Written last, with the digest of every file the folder holds, so a folder is complete only when it has a
    manifest and every file it lists, unchanged (weights removed by hand, or a file damaged, make it stale)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {str(p.relative_to(folder)): file_digest(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != MANIFEST}
    write_json(folder / MANIFEST, manifest | {_FILES: files})


def write_whole(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` to a temporary file then renamed over `path`: a stopped run never leaves half a file."""
    tmp = path.with_name(f"{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


def write_json(path: Path, value: Any) -> None:
    """Written whole or not at all (`write_whole`)."""
    write_whole(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str)))


def fresh_manifest(folder: Path, key: str) -> dict[str, Any] | None:
    """The folder's manifest when it was made from these inputs (`key`) and is still whole, else None: read (and
    its files hashed) once, for the caller that reuses what the manifest says."""
    manifest = read_manifest(folder)
    return manifest if manifest.get("key") == key else None


def is_fresh(folder: Path, key: str) -> bool:
    """Made from these inputs (`key`) and still whole."""
    return fresh_manifest(folder, key) is not None


def open_sqlite_cache(path: Path, schema: str) -> sqlite3.Connection:
    """A SQLite cache with `schema` (a CREATE TABLE IF NOT EXISTS). A cache only saves work, so one that is not a
    database or fails SQLite's quick check is removed and started empty, with a warning that names it, instead
    of failing every run of every step that opens it."""
    try:
        return _open_checked(path, schema)
    except sqlite3.DatabaseError as exc:
        warn_damaged(path, exc)
    for leftover in ("", "-journal", "-wal", "-shm"):  # a journal of the damaged file must not replay into the new
        Path(f"{path}{leftover}").unlink(missing_ok=True)
    return _open_checked(path, schema)


def warn_damaged(path: Path, problem: Exception) -> None:
    """Say which cache file could not be read and that what it held is made again (the caller does so)."""
    warnings.warn(f"{paths.shareable(path)} cannot be read ({problem}): it is made again", DamagedCacheWarning,
                  stacklevel=3)


def _open_checked(path: Path, schema: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    try:
        if connection.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("damaged pages, by SQLite's quick check")
        connection.execute(schema)
    except sqlite3.DatabaseError:
        connection.close()
        raise
    return connection


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object `path` holds; None when it cannot be read as one (gone, torn, overwritten, not UTF-8)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _changed_files(folder: Path, files: dict[str, str] | list[str] | None) -> list[str]:
    """The files a manifest lists that are gone or differ from their digest (a manifest written before digests
    were kept lists names only, and only their presence can be checked; one with no list is never complete)."""
    if files is None:
        return [MANIFEST]
    expected = files if isinstance(files, dict) else dict.fromkeys(files)
    return [name for name, digest in expected.items()
            if not (folder / name).is_file() or digest not in (None, file_digest(folder / name))]
