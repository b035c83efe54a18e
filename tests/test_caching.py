"""A cached folder counts as done only while it holds what its manifest promises."""

from nova_lab.caching import is_fresh, read_manifest, write_manifest


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
