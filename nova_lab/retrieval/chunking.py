"""Fixed-size token chunking with overlap, the offline twin of Bedrock's FIXED_SIZE strategy.

Tokens are counted with the embedding model's own tokenizer, so a chunk never exceeds what
the model reads. Each chunk starts with its document's title (a contextual header, counted
in the budget) and keeps its source document id.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from tqdm.auto import tqdm


def chunk_text(text: str, tokenizer: Any, size: int, overlap: int) -> list[str]:
    """Windows of `size` tokens, each starting `size - overlap` tokens after the last,
    cut from the original text by character offsets so no text is altered."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoding["offset_mapping"]
    if not offsets:
        return []
    step = size - overlap
    chunks = []
    for start in range(0, len(offsets), step):
        window = offsets[start: start + size]
        chunks.append(text[window[0][0]: window[-1][1]])
        if start + size >= len(offsets):
            break
    return chunks


def chunk_documents(documents: pd.DataFrame, tokenizer: Any, size: int, overlap: int) -> pd.DataFrame:
    rows = []
    for doc in tqdm(documents.itertuples(), total=len(documents), desc="chunking", unit="doc"):
        header = f"{doc.title}\n"
        budget = size - len(tokenizer(header, add_special_tokens=False)["input_ids"])
        for n, piece in enumerate(chunk_text(doc.text, tokenizer, budget, min(overlap, budget // 2))):
            rows.append({"chunk_id": f"{doc.doc_id}#{n}", "doc_id": doc.doc_id, "text": header + piece})
    return pd.DataFrame(rows, columns=["chunk_id", "doc_id", "text"])
