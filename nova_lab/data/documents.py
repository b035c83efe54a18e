"""A folder of the user's own documents as the study's corpus: Markdown, plain text, HTML and PDF.

Each document's id is its path inside the folder (`guides/setup.md`), so a question names its source the way the
user sees it. What could not be read (an encrypted or image-only PDF, text that is not UTF-8) is recorded per file
with the reason, and the run goes on with the rest; a folder with nothing readable stops before any model runs.
Other formats are left out on purpose: Word and slide files need converters that bring their own layout rules,
and a user can export them to PDF or HTML, which keep the text a reader sees."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from nova_lab.core.params import ParamsError

MARKDOWN, TEXT, HTML, PDF = (".md", ".markdown"), (".txt",), (".html", ".htm"), (".pdf",)
READABLE = (*MARKDOWN, *TEXT, *HTML, *PDF)
DOCUMENT_COLUMNS = ["doc_id", "service", "operation", "title", "text"]  # the built-in corpus's, so 02-06 read both
REPORT_COLUMNS = ["doc_id", "read", "characters", "reason"]
SECTION_CHARS = 3000  # what an LLM writing Q&A pairs reads of a document at a time (bedrock/qa_generation.py)
BLOCKS = ["p", "div", "br", "li", "tr", "pre", "section", "article", "table", "ul", "ol", "dl", "dt", "dd",
          "blockquote", *(f"h{n}" for n in range(1, 7))]


class DocumentsError(ParamsError):
    """The documents folder cannot make a corpus (missing, empty, nothing readable): named with the way out."""


class Unreadable(Exception):
    """One file the study could not read; its reason goes into the report."""


@dataclass(frozen=True)
class FolderCorpus:
    documents: pd.DataFrame  # DOCUMENT_COLUMNS, one row per readable document
    report: pd.DataFrame  # REPORT_COLUMNS, one row per file of a readable kind, read or not


def _utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}): save it as UTF-8") from None


def _markdown(path: Path) -> tuple[str, str]:
    """Markdown stays as written (the models read it as text); its first `# ` heading is the title."""
    text = _utf8(path)
    first, _, rest = text.partition("\n")
    if first.startswith("# "):
        return first[2:].strip(), rest.lstrip("\n").rstrip("\n")
    return path.stem, text.strip("\n")


def _text(path: Path) -> tuple[str, str]:
    return path.stem, _utf8(path).strip("\n")


def _html(path: Path) -> tuple[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(_utf8(path), "html.parser")
    for hidden in soup(["script", "style", "noscript"]):
        hidden.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else path.stem
    if soup.title:
        soup.title.decompose()
    for block in soup.find_all(BLOCKS):
        block.insert_after("\n")  # a paragraph, heading or item ends a line; inline tags (b, a, code) do not
    lines = ((soup.body or soup).get_text("")).splitlines()
    return title or path.stem, "\n".join(" ".join(line.split()) for line in lines if line.strip())


def _pdf(path: Path) -> tuple[str, str]:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise Unreadable("encrypted PDF: save a copy without a password")
        text = "\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PdfReadError, ValueError, OSError) as exc:
        raise Unreadable(f"not a readable PDF ({exc})") from None
    if not text:
        raise Unreadable("no text in the PDF (scanned images?): run OCR on it first")
    title = (reader.metadata.title if reader.metadata else None) or path.stem
    return str(title), text


READERS = {**dict.fromkeys(MARKDOWN, _markdown), **dict.fromkeys(TEXT, _text), **dict.fromkeys(HTML, _html),
           **dict.fromkeys(PDF, _pdf)}


def read_folder(folder: Path) -> FolderCorpus:
    """Every readable document under `folder` (sub-folders too), in path order; files of other kinds are not
    listed, files of a readable kind that fail are, with their reason."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DocumentsError(f"documents: {folder} is not a folder: name a folder of {', '.join(READABLE)} files")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in READABLE)
    if not files:
        raise DocumentsError(f"documents: {folder} holds no {', '.join(READABLE)} file")
    documents, report = [], []
    for path in files:
        relative = path.relative_to(folder)
        doc_id = relative.as_posix()
        try:
            title, text = READERS[path.suffix.lower()](path)
            if not text.strip():
                raise Unreadable("empty")
        except Unreadable as exc:
            report.append({"doc_id": doc_id, "read": False, "characters": 0, "reason": str(exc)})
            continue
        parts = relative.parts  # the first sub-folder groups documents, as a service does
        documents.append({"doc_id": doc_id, "service": parts[0] if len(parts) > 1 else "", "operation": None,
                          "title": title, "text": text})
        report.append({"doc_id": doc_id, "read": True, "characters": len(text), "reason": ""})
    report = pd.DataFrame(report, columns=REPORT_COLUMNS)
    if not documents:
        reasons = "; ".join(f"{r.doc_id}: {r.reason}" for r in report.head(5).itertuples())
        raise DocumentsError(f"documents: none of the {len(files)} files in {folder} could be read ({reasons})")
    return FolderCorpus(pd.DataFrame(documents, columns=DOCUMENT_COLUMNS), report)


def write_folder(documents: pd.DataFrame, folder: Path) -> list[Path]:
    """The corpus as Markdown files that `read_folder` reads back to the same titles and texts: `# title`, a
    blank line, the text. A document's id becomes its path (`sqs/AddPermission` -> `sqs/AddPermission.md`)."""
    written = []
    for doc in documents.itertuples():
        path = Path(folder) / f"{doc.doc_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {doc.title}\n\n{doc.text}\n", encoding="utf-8")
        written.append(path)
    return written


def sections(text: str, max_chars: int) -> list[str]:
    """A document in consecutive runs of whole lines of at most `max_chars` (a longer line is cut), so that a long
    document's end is asked about as its start is."""
    lines = [piece for line in text.splitlines() for piece in
             (line[start:start + max_chars] for start in range(0, max(len(line), 1), max_chars))]
    parts, current = [], ""
    for line in lines:
        if current and len(current) + 1 + len(line) > max_chars:
            parts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return [part for part in [*parts, current] if part.strip()]
