"""Damaged (not missing) state files: a cache that cannot be read is made again with a warning that names it;
a record of the run that cannot be read stops with one line naming it and what to do; a folder a step trusts
is checked against the digests its manifest recorded."""

import numpy as np
import pandas as pd
import pytest

from nova_lab.core import artefacts, caching, paths, results
from nova_lab.core.params import DataPrepParams, KnowledgeBaseParams
from nova_lab.core.study_steps import StepNotRun
from nova_lab.data import data_prep
from nova_lab.retrieval import embeddings, kb_build
from nova_lab.retrieval.knowledge_base import CachedRetriever, Passage


@pytest.fixture
def outputs(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path / "outputs"


@pytest.fixture
def built_kb(outputs):
    """Step 01 on one service and step 02 on it: the knowledge base's folder, and its build's figures."""
    data_prep.prepare(DataPrepParams(run_name="r", backend="local", seed=1, services=["sqs"], qa_generator="template",
                                     n_train=16, train_phrasings_per_fact=2, n_validation=8, n_test=4))
    cfg = KnowledgeBaseParams(run_name="r", backend="local", chunk_tokens=128, chunk_overlap=16,
                              embedding_batch_size=32, rrf_k=60)
    return cfg, kb_build.build(cfg)


def overwrite(file, offset=0, size=4096):
    with open(file, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xa5" * size)


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
def test_truncated_chunks_are_made_again_by_02_and_never_read_by_a_later_step(built_kb):
    cfg, first = built_kb
    chunks = kb_build.kb_dir("r") / "chunks.parquet"
    chunks.write_bytes(chunks.read_bytes()[:100])
    with pytest.raises(StepNotRun, match=r"^outputs/r/kb is incomplete \(files listed in its manifest.json are "
                                                r"gone or changed\): run notebooks/02_kb_build.ipynb .* again$"):
        kb_build.read_chunks("r")
    with pytest.warns(caching.DamagedCacheWarning, match=r"^outputs/r/kb: chunks.parquet gone or damaged since"):
        again = kb_build.build(cfg)
    assert again["reused"] is False and again["chunks"] == first["chunks"] == len(kb_build.read_chunks("r"))


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
def test_an_overwritten_vector_file_is_detected_and_the_store_made_again(built_kb):
    cfg, _ = built_kb
    vectors_before = kb_build.open_knowledge_base("r").table.to_pandas()["vector"]
    data = max((kb_build.kb_dir("r") / "lancedb").rglob("data/*.lance"), key=lambda f: f.stat().st_size)
    overwrite(data, offset=data.stat().st_size // 2)
    with pytest.raises(StepNotRun, match=r"^outputs/r/kb is incomplete .* run notebooks/02_kb_build"):
        kb_build.open_knowledge_base("r")  # what step 04 searches
    with pytest.warns(caching.DamagedCacheWarning, match=r"lancedb/chunks.lance/data/.*\.lance gone or damaged"):
        assert kb_build.build(cfg)["reused"] is False
    vectors_after = kb_build.open_knowledge_base("r").table.to_pandas()["vector"]
    assert all((a == b).all() for a, b in zip(vectors_before, vectors_after))


class Fixed:
    def retrieve(self, query, k=5, mode="hybrid"):
        return [Passage("d#0", "d", query, 1.0)]


@pytest.mark.parametrize("damage", [lambda f: f.write_bytes(b"not a database, overwritten" * 200),
                                    lambda f: overwrite(f, offset=4096)])
def test_a_damaged_search_store_is_made_again_with_a_warning_naming_it(outputs, damage):
    store = paths.cache_dir("retrieval") / "results.sqlite"
    for n in range(300):  # pages enough that overwriting the second one damages the table
        CachedRetriever(Fixed(), "kb-1", store).retrieve(f"question {n}")
    damage(store)
    with pytest.warns(caching.DamagedCacheWarning, match=r"^outputs/cache/retrieval/results.sqlite cannot be read "
                                                          r"\(.*\): it is made again$"):
        kept = CachedRetriever(Fixed(), "kb-1", store)
    assert kept.retrieve("question 1") == [Passage("d#0", "d", "question 1", 1.0)]


def test_a_damaged_embedding_cache_is_made_again_with_a_warning_naming_it(outputs):
    cache = embeddings.default_cache()
    cache.write_bytes(b"\x00" * 8192)
    with pytest.warns(caching.DamagedCacheWarning, match=r"^outputs/cache/embeddings/minilm.sqlite cannot be read"):
        embeddings.EmbeddingCache(cache).put(["k"], np.ones((1, 3)))


def test_a_damaged_retrieval_table_is_searched_again(outputs, monkeypatch):
    from nova_lab.retrieval import retrieval_eval

    questions = pd.DataFrame({"id": ["q1"], "stratum": ["seen"], "source_doc_id": ["d"], "question": ["what?"]})
    first = retrieval_eval.rank_of_source(Fixed(), questions, ("keyword",), search_key="kb-1")
    file = retrieval_eval.ranks_file("kb-1", questions, ("keyword",), 10)
    file.write_bytes(file.read_bytes()[:50])
    with pytest.warns(caching.DamagedCacheWarning, match=r"^outputs/cache/retrieval/ranks-.*\.parquet cannot be read"):
        again = retrieval_eval.rank_of_source(Fixed(), questions, ("keyword",), search_key="kb-1")
    assert again["rank"].tolist() == first["rank"].tolist() == [1]


@pytest.mark.parametrize("damaged", ['{"answers": ["k1"', "[]", b"\xff\xfe"])
def test_a_damaged_current_result_stops_with_one_line_naming_it_and_step_04(outputs, damaged):
    current = results.current_path("r", "micro")
    current.write_bytes(damaged.encode() if isinstance(damaged, str) else damaged)
    way_out = (r"^outputs/r/micro/current.json is damaged \(not a JSON object\): remove it, then run "
               r"notebooks/04_inference.ipynb with run_name='r', model='micro' \(nova-lab run 04 .*\) again$")
    with pytest.raises(paths.UnusableState, match=way_out):
        results.current("r", "micro", "answers")
    with pytest.raises(paths.UnusableState, match=way_out):  # 04 reads it before it writes its own
        results.set_current("r", "micro", answers=["k2"])
    with pytest.raises(paths.UnusableState, match=way_out):
        results.read_repeats("r", "micro")


def test_damaged_timings_stop_with_one_line_naming_them(outputs):
    artefacts.path(artefacts.TIMINGS, "r").write_text('{"01_data_prep": 1')
    with pytest.raises(paths.UnusableState, match=r"^outputs/r/timings.json is damaged \(not a JSON object\): "
                                                   r"remove it, then run `nova-lab study` again$"):
        artefacts.read_record(artefacts.TIMINGS, "r")
    artefacts.path(artefacts.TIMINGS, "r").unlink()
    assert artefacts.read_record(artefacts.TIMINGS, "r") is None


def test_a_damaged_bedrock_state_stops_with_one_line_naming_it(outputs):
    """The Bedrock steps' hand-over (ids of billed resources) is a record of the run, not a cache."""
    from nova_lab.bedrock.state import read_state, state_path

    state = state_path("r")
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text('{"data": {"train": "s3://b/unit/data/tr')  # torn by a kill
    with pytest.raises(paths.UnusableState, match=r"^outputs/r/bedrock/state.json is damaged \(not a JSON object\)"):
        read_state("r")


def test_an_outputs_setting_that_names_a_file_is_one_line_from_the_cli(monkeypatch, tmp_path, capsys):
    from nova_lab import cli

    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(taken))
    assert cli.main(["study", "--overlay", str(paths.PARAMS / "smoke.yaml")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "NOVA_LAB_OUTPUTS" in error and "a-file" in error
