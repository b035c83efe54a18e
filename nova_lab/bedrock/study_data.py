"""Step 01 on Bedrock: the corpus and the Nova files, uploaded where the knowledge base and the
customization job read them. Object names mirror the offline doc ids, so a Retrieve result maps
back to the question's source document (`runtime._doc_id`)."""

from __future__ import annotations

from tqdm.auto import tqdm

from nova_lab.bedrock.resources import Clients, ensure_bucket, upload
from nova_lab.data_prep import nova_file, read_documents
from nova_lab.params import BedrockSettings


def corpus_key(doc_id: str) -> str:
    return f"corpus/{doc_id}.txt"


def upload_study_data(clients: Clients, settings: BedrockSettings, run_name: str) -> dict[str, str]:
    """Every corpus document and both Nova files; returns the Nova files' S3 URIs by split."""
    ensure_bucket(clients, settings)
    documents = read_documents(run_name)
    for row in tqdm(documents.itertuples(), total=len(documents), desc="upload corpus", unit="doc"):
        upload(clients, settings, corpus_key(row.doc_id), row.text.encode("utf-8"))
    return {split: upload(clients, settings, f"data/{split}.jsonl", nova_file(run_name, split).read_bytes())
            for split in ("train", "validation")}
