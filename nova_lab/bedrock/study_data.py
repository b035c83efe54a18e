"""Step 01 on Bedrock: the corpus and the Nova files, uploaded where the knowledge base and the
customization job read them, under `<study_tag>/<run_name>/`. Object names mirror the offline doc
ids, so a Retrieve result maps back to the question's source document (`runtime._doc_id`)."""

from __future__ import annotations

from tqdm.auto import tqdm

from nova_lab.bedrock.resources import ensure_bucket, upload
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.data.data_prep import nova_file, read_documents


def corpus_prefix(run_name: str) -> str:
    """Where a run's corpus lives under the study's prefix: the knowledge base ingests exactly this."""
    return f"{run_name}/corpus/"


def upload_study_data(run: BedrockRun) -> dict[str, str]:
    """Every corpus document (and no stale one) and both Nova files; returns the Nova files' URIs by split."""
    clients, settings, run_name = run.clients, run.settings, run.name
    ensure_bucket(clients, settings)
    documents = read_documents(run_name)
    keys = {f"{settings.study_tag}/{corpus_prefix(run_name)}{doc_id}.txt" for doc_id in documents["doc_id"]}
    for page in clients.s3.get_paginator("list_objects_v2").paginate(
            Bucket=settings.bucket, Prefix=f"{settings.study_tag}/{corpus_prefix(run_name)}"):
        for item in page.get("Contents", []):
            if item["Key"] not in keys:  # a document of an earlier corpus: the knowledge base must not see it
                clients.s3.delete_object(Bucket=settings.bucket, Key=item["Key"])
    for row in tqdm(documents.itertuples(), total=len(documents), desc="upload corpus", unit="doc"):
        upload(clients, settings, f"{corpus_prefix(run_name)}{row.doc_id}.txt", row.text.encode("utf-8"))
    return {split: upload(clients, settings, f"{run_name}/data/{split}.jsonl", nova_file(run_name, split).read_bytes())
            for split in ("train", "validation")}
