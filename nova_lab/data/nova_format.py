"""Amazon Nova fine-tuning data (`bedrock-conversation-2024` JSONL): writer and validator.

The validator applies the rules a Bedrock customization job applies (FACTS.md: Nova user
guide, data preparation) so a bad file fails here, with every bad record named by line and
rule, instead of an hour later in a failed job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from nova_lab.core.registry import registrar

SCHEMA_VERSION = "bedrock-conversation-2024"
SYSTEM_PROMPT = "You are an AWS expert. Answer the question about AWS APIs in one short, accurate sentence."
# AWS's own validator (aws-samples/amazon-nova-samples, customization/bedrock-finetuning/understanding/
# dataset_validation/nova_ft_dataset_validator.py, read 2026-11-26) rejects these anywhere in a text,
# in any letter case: a record holding `user:` fails the job just as one holding `User:`.
RESERVED_WORDS = ("System:", "User:", "Bot:", "Assistant:", "Thought:", "[EOS]", "<image>", "<video>", "<unk>")
MIN_SAMPLES, MAX_SAMPLES = 8, 20_000
RECOMMENDED_SAMPLES = 100  # the Nova guide's advice; fewer is accepted but rarely teaches anything
_FILE_NAME = re.compile(r"^[A-Za-z0-9_\-/.]+$")


@dataclass(frozen=True)
class Violation:
    line: int  # 1-based; 0 for a rule about the whole file
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: [{self.rule}] {self.message}"


def to_record(question: str, answer: str, system: str = SYSTEM_PROMPT) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "system": [{"text": system}],
        "messages": [
            {"role": "user", "content": [{"text": question}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


def write_jsonl(qa: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        for question, answer in zip(qa["question"], qa["reference_answer"]):
            handle.write(json.dumps(to_record(question, answer), ensure_ascii=False) + "\n")
    return path


# --- record rules: each returns the problems of one parsed record -------------------------
RecordRule = Callable[[Any], Iterable[str]]
RECORD_RULES: dict[str, RecordRule] = {}
_rule = registrar(RECORD_RULES)


def _texts(blocks: Any) -> list[Any]:
    return [b.get("text") for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []


@_rule("object")
def _is_object(record: Any) -> Iterable[str]:
    if not isinstance(record, dict):
        yield f"a record must be a JSON object, got {type(record).__name__}"


@_rule("schema-version")
def _schema_version(record: Any) -> Iterable[str]:
    # the Nova guide takes any string here; we write SCHEMA_VERSION
    if isinstance(record, dict) and not isinstance(record.get("schemaVersion"), str):
        yield f"schemaVersion must be a string such as {SCHEMA_VERSION!r}, got {record.get('schemaVersion')!r}"


@_rule("system")
def _system(record: Any) -> Iterable[str]:
    if not isinstance(record, dict) or "system" not in record:
        return
    system = record["system"]
    if not isinstance(system, list) or not all(isinstance(t, str) and t for t in _texts(system)) \
            or len(_texts(system)) != len(system):
        yield 'system must be a list of {"text": <non-empty string>}'


@_rule("messages")
def _messages(record: Any) -> Iterable[str]:
    if not isinstance(record, dict):
        return
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        yield "messages must be a list of at least one user and one assistant turn"
        return
    for n, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            yield f"message {n} must be an object with role and content"
            continue
        texts = _texts(message.get("content"))
        if not texts or len(texts) != len(message.get("content")) or not all(isinstance(t, str) and t.strip() for t in texts):
            yield f'message {n} content must be a non-empty list of {{"text": <non-empty string>}}'


@_rule("role-order")
def _role_order(record: Any) -> Iterable[str]:
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        return
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(roles))]
    if roles != expected or roles[-1] != "assistant":
        yield f"roles must alternate user, assistant, ... and end with assistant; got {roles}"


def reserved_words_in(text: str) -> list[str]:
    """The reserved words `text` holds, matched as AWS's validator does: ignoring letter case."""
    lowered = text.lower()
    return [word for word in RESERVED_WORDS if word.lower() in lowered]


@_rule("reserved-words")
def _reserved_words(record: Any) -> Iterable[str]:
    if not isinstance(record, dict):
        return
    texts = _texts(record.get("system"))
    for message in record.get("messages") or []:
        if isinstance(message, dict):
            texts += _texts(message.get("content"))
    found = {word for text in texts if isinstance(text, str) for word in reserved_words_in(text)}
    for word in sorted(found, key=RESERVED_WORDS.index):
        yield f"contains the reserved word {word!r} (in any letter case), which fails a Nova customization job"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (Python's reader takes it, Bedrock's does not)")


def _parse(line: str) -> Any:
    """One JSON Lines record, read as strict JSON: `NaN` and `Infinity` are refused, not read as floats."""
    return json.loads(line, parse_constant=_no_constant)


def _read_line(line: str) -> tuple[Any, str | None]:
    """(the record, None), or (None, why the line is no JSON value) when it cannot be read."""
    try:
        return _parse(line), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg}"
    except ValueError as exc:  # from _no_constant
        return None, f"not valid JSON: {exc}"
    except RecursionError:
        return None, "nested too deep to read (Python's JSON reader stops at about 1,000 levels)"


def validate_lines(lines: Iterable[str]) -> tuple[int, list[Violation]]:
    """Check records one by one: (number of records, every violation)."""
    violations: list[Violation] = []
    count = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            violations.append(Violation(number, "json", "empty line"))
            continue
        count += 1
        record, problem = _read_line(line)
        if problem:
            violations.append(Violation(number, "json", problem))
            continue
        for rule, check in RECORD_RULES.items():
            violations += [Violation(number, rule, problem) for problem in check(record)]
    return count, violations


class UnreadableFile(ValueError):
    """A path that is no JSON Lines text at all (missing, a folder, binary, UTF-16, a JSON array, old-Mac line
    ends): one line says which and why."""


def json_lines(text: str) -> list[str]:
    """The lines of JSON Lines text, split on `\\n` only, as JSON Lines defines them. `str.splitlines` also splits
    on U+2028, U+0085 and a lone `\\r`, which may stand raw inside a JSON string (`ensure_ascii=False` writes them).
    A `\\r` before the `\\n` (Windows line ends) stays on the line, where JSON reads it as white space."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _text_lines(path: Path) -> list[str]:
    if not path.exists():
        raise UnreadableFile(f"{path}: no such file")
    if path.is_dir():
        raise UnreadableFile(f"{path}: is a folder; give the .jsonl files in it")
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise UnreadableFile(f"{path}: UTF-16 text (it starts with a UTF-16 byte-order mark); Nova reads UTF-8 "
                             f"JSON lines: save it as UTF-8")
    if b"\0" in data:
        raise UnreadableFile(f"{path}: binary data (a NUL byte at offset {data.index(0)}), not JSON lines")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{path}: not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                             f"Nova reads UTF-8 JSON lines") from None
    if "\r" in text and "\n" not in text:
        raise UnreadableFile(f"{path}: its lines end in a carriage return alone (old Mac line ends); JSON Lines "
                             f"ends each line with a line feed (\\n)")
    if text.lstrip().startswith("[") and isinstance(_read_line(text)[0], list):
        raise UnreadableFile(f"{path}: a JSON array, not JSON Lines: write each record on a line of its own")
    return json_lines(text)


@dataclass(frozen=True)
class FileCheck:
    records: int
    violations: list[Violation]  # what makes Bedrock refuse the file
    warnings: list[str]  # what it accepts but the Nova guide advises against


def check_file(path: str | Path) -> FileCheck:
    """Every rule, on every record and on the file; UnreadableFile when it is no text file."""
    path = Path(path)
    violations = []
    if not _FILE_NAME.match(path.name) or path.suffix != ".jsonl":
        violations.append(Violation(0, "file-name", f"{path.name!r}: use only letters, digits, _ - / . and end in .jsonl"))
    count, record_violations = validate_lines(_text_lines(path))
    if not MIN_SAMPLES <= count <= MAX_SAMPLES:
        violations.append(Violation(0, "sample-count", f"{count} records; Nova takes {MIN_SAMPLES}-{MAX_SAMPLES:,}"))
    warnings = [f"{count} records: the Nova guide recommends at least {RECOMMENDED_SAMPLES}"] \
        if MIN_SAMPLES <= count < RECOMMENDED_SAMPLES else []
    return FileCheck(count, violations + record_violations, warnings)


def validate_file(path: str | Path) -> list[Violation]:
    """Every rule, on every record and on the file: an empty list means Bedrock would take it."""
    return check_file(path).violations


class InvalidTrainingData(ValueError):
    def __init__(self, path: Path, violations: list[Violation]):
        shown = "\n  ".join(str(v) for v in violations[:20])
        more = f"\n  ... and {len(violations) - 20} more" if len(violations) > 20 else ""
        super().__init__(f"{path}: {len(violations)} problem(s)\n  {shown}{more}")
        self.violations = violations


def read_validated(path: str | Path) -> list[dict[str, Any]]:
    """The records of a training file, or InvalidTrainingData listing every problem."""
    path = Path(path)
    violations = validate_file(path)
    if violations:
        raise InvalidTrainingData(path, violations)
    return [_parse(line) for line in json_lines(path.read_text(encoding="utf-8"))]


def validation_report(files: dict[str, Path]) -> pd.DataFrame:
    """One row per file: records, problems found, and the first few problems."""
    rows = []
    for split, path in files.items():
        checked = check_file(path)
        rows.append({"split": split, "file": path.name, "records": checked.records, "problems": len(checked.violations),
                     "first_problems": "; ".join(str(v) for v in checked.violations[:3])})
    return pd.DataFrame(rows)
