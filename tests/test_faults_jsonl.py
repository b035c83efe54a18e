"""Faults, round two: JSON Lines as JSON Lines defines it, in `validate-jsonl` and in step 03's reader (issue 27)."""

import json

import pytest

from nova_lab.cli import main
from nova_lab.data.nova_format import read_validated, to_record, validate_file

RECORDS = [to_record(f"What does call {i} return?", f"A list\u2028of queues\u0085and {i} more.") for i in range(10)]


def lines(records=RECORDS) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records]


def test_raw_line_and_paragraph_separators_are_inside_records_not_line_ends(tmp_path):
    """The project's writer keeps U+2028 and U+0085 raw (`ensure_ascii=False`); only `\\n` ends a JSON line."""
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines()) + "\n", encoding="utf-8")
    assert main(["validate-jsonl", str(path)]) == 0
    assert read_validated(path) == RECORDS


def test_windows_line_ends_are_taken(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(("\r\n".join(lines()) + "\r\n").encode())
    assert validate_file(path) == [] and read_validated(path) == RECORDS


@pytest.mark.parametrize("name, content, says", [
    ("old-mac", "\r".join(lines()) + "\r", "carriage return alone"),
    ("array", json.dumps(RECORDS, indent=2), "a JSON array, not JSON Lines"),
    ("utf16", "\n".join(lines()) + "\n", "UTF-16"),
])
def test_a_file_that_is_no_json_lines_is_one_line_saying_what_it_is(tmp_path, capsys, name, content, says):
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(content.encode("utf-16") if name == "utf16" else content.encode())
    assert main(["validate-jsonl", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and says in err


SCORED = to_record("What is the quota?", "None.")


@pytest.mark.parametrize("line, says", [
    ("[" * 200_000 + "]" * 200_000, "nested too deep"),
    (json.dumps(SCORED | {"score": float("nan")}), "not valid JSON: NaN is not JSON"),
    (json.dumps(SCORED | {"score": float("inf")}), "not valid JSON: Infinity is not JSON"),
])
def test_a_bad_line_is_one_problem_of_that_line(tmp_path, capsys, line, says):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join([lines()[0], line, *lines()[1:]]) + "\n", encoding="utf-8")
    assert main(["validate-jsonl", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err == "" and "11 record(s), 1 problem(s)" in out and f"line 2: [json] {says}" in out
