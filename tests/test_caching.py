"""A cached folder counts as done only while it holds what its manifest promises."""

import json

import pytest

from nova_lab.core.caching import DamagedCacheWarning, is_fresh, read_manifest, write_manifest


def test_a_folder_whose_files_went_missing_is_not_fresh(tmp_path):
    (tmp_path / "lancedb").mkdir()
    (tmp_path / "lancedb" / "chunks.lance").write_text("vectors")
    (tmp_path / "chunks.parquet").write_text("chunks")
    write_manifest(tmp_path, {"key": "k1", "chunks": 2})
    assert is_fresh(tmp_path, "k1") and read_manifest(tmp_path) == {"key": "k1", "chunks": 2}
    (tmp_path / "extra.log").write_text("a file added later does not matter")
    assert is_fresh(tmp_path, "k1")
    (tmp_path / "lancedb" / "chunks.lance").unlink()  # the vector store removed by hand
    assert not is_fresh(tmp_path, "k1") and read_manifest(tmp_path) == {}


def test_a_folder_without_a_manifest_or_with_another_key_is_not_fresh(tmp_path):
    assert not is_fresh(tmp_path, "k1")
    write_manifest(tmp_path, {"key": "k2"})
    assert not is_fresh(tmp_path, "k1")


def test_a_file_damaged_in_place_makes_its_folder_stale_with_a_warning_naming_it(tmp_path):
    (tmp_path / "chunks.parquet").write_bytes(b"PAR1 chunks PAR1")
    write_manifest(tmp_path, {"key": "k1"})
    (tmp_path / "chunks.parquet").write_bytes(b"PAR1 chu")  # truncated: still there, no longer what was written
    with pytest.warns(DamagedCacheWarning, match=r"chunks.parquet gone or damaged since manifest.json was written"):
        assert not is_fresh(tmp_path, "k1")


def test_a_damaged_manifest_is_a_folder_to_make_again_not_an_error(tmp_path):
    write_manifest(tmp_path, {"key": "k1"})
    (tmp_path / "manifest.json").write_text('{"key": "k1", "fil')
    with pytest.warns(DamagedCacheWarning, match=r"manifest.json gone or damaged"):
        assert read_manifest(tmp_path) == {}


def test_a_manifest_written_before_digests_is_checked_for_its_files(tmp_path):
    (tmp_path / "history.parquet").write_text("history")
    (tmp_path / "manifest.json").write_text(json.dumps({"key": "k1", "files": ["history.parquet"]}))
    assert is_fresh(tmp_path, "k1")
