"""Step 01 on Bedrock: the corpus and the Nova files, uploaded where the knowledge base and the
customization job read them, under `<study_tag>/<run_name>/`.

Object names carry the documents' ids, so a Retrieve result maps back to the question's source document
(`doc_id_of`): botocore's documents go up as the text 01 extracted (`corpus/botocore/<doc id>.txt`); a folder
of your own documents goes up as the files themselves (`corpus/own/<path in the folder>`), so the knowledge
base parses your PDF and HTML as it would in production, not the text this machine read from them."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from nova_lab.bedrock.resources import ensure_bucket, upload
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.data.data_prep import nova_file, read_documents
from nova_lab.data.documents import READABLE, DocumentsError

BUILT_IN, OWN = "botocore/", "own/"  # under the corpus prefix: which source an object came from
# What a Bedrock knowledge base's S3 data source ingests (user guide, "Prerequisites for your data source"):
# these extensions, at most 50 MB a file.
KNOWLEDGE_BASE_FORMATS = (".txt", ".md", ".html", ".doc", ".docx", ".csv", ".xls", ".xlsx", ".pdf")
KNOWLEDGE_BASE_MAX_BYTES = 50 * 1024 * 1024


def corpus_prefix(run_name: str) -> str:
    """Where a run's corpus lives under the study's prefix: the knowledge base ingests exactly this."""
    return f"{run_name}/corpus/"


def object_name(doc_id: str, own: bool) -> str:
    """A document's object under the corpus prefix."""
    return f"{OWN}{doc_id}" if own else f"{BUILT_IN}{doc_id}.txt"


def doc_id_of(uri: str) -> str:
    """s3://bucket/<tag>/<run>/corpus/botocore/<service>/<operation>.txt -> <service>/<operation>;
    s3://bucket/<tag>/<run>/corpus/own/<path> -> <path>: the offline doc id. (Tag and run hold no `/`.)"""
    tail = uri.split("/", 6)[-1]  # after s3:, '', bucket, tag, run and `corpus`
    if tail.startswith(OWN):
        return tail.removeprefix(OWN)
    return tail.removeprefix(BUILT_IN).removesuffix(".txt")


def check_uploadable(folder: Path) -> None:
    """Every file of a kind 01 reads must be one the knowledge base ingests: checked before any model or AWS call,
    so a run does not pay for Q&A pairs on documents it cannot upload."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() in READABLE]
    refused = [f"{p.relative_to(folder)} ({p.stat().st_size / 2**20:.0f} MB)" for p in files
               if p.stat().st_size > KNOWLEDGE_BASE_MAX_BYTES]
    refused += [str(p.relative_to(folder)) for p in files if p.suffix.lower() not in KNOWLEDGE_BASE_FORMATS]
    if refused:
        raise DocumentsError(f"documents: {', '.join(refused[:5])}{' ...' if len(refused) > 5 else ''}: a Bedrock "
                             f"knowledge base ingests {', '.join(KNOWLEDGE_BASE_FORMATS)} files of at most 50 MB; "
                             "rename (.htm to .html, .markdown to .md), split or convert them")


def upload_study_data(run: BedrockRun, own_folder: Path | None = None) -> dict[str, str]:
    """Every corpus document (and no stale one: a document of an earlier corpus must not be searched) and both
    Nova files. `own_folder`: the folder 01 read the documents from, whose files go up as they are.
    Returns the S3 URIs: the corpus prefix, and the Nova files by split."""
    clients, settings, run_name = run.clients, run.settings, run.name
    ensure_bucket(clients, settings)
    documents = read_documents(run_name)
    own = own_folder is not None
    bodies = ({doc_id: (own_folder / doc_id).read_bytes for doc_id in documents["doc_id"]} if own
              else {row.doc_id: row.text.encode for row in documents.itertuples()})
    prefix = f"{settings.study_tag}/{corpus_prefix(run_name)}"
    keys = {f"{prefix}{object_name(doc_id, own)}" for doc_id in bodies}
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"] not in keys:
                clients.s3.delete_object(Bucket=settings.bucket, Key=item["Key"])
    for doc_id, body in tqdm(bodies.items(), desc="upload corpus", unit="doc"):
        upload(clients, settings, f"{corpus_prefix(run_name)}{object_name(doc_id, own)}", body())
    nova = {split: upload(clients, settings, f"{run_name}/data/{split}.jsonl", nova_file(run_name, split).read_bytes())
            for split in ("train", "validation")}
    return {"corpus": f"s3://{settings.bucket}/{prefix}", **nova}
