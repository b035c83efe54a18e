"""The Nova JSONL validator: a good file passes; each rule catches its own mistake, by line."""

import json

import pytest

from nova_lab.data.nova_format import (
    RECORD_RULES,
    InvalidTrainingData,
    read_validated,
    to_record,
    validate_file,
    write_jsonl,
)


def good(n: int = 3) -> list[dict]:
    return [to_record(f"What is the API version of service {i}?", f"It is 2020-01-0{i}.") for i in range(n)]


def write(tmp_path, records, name="train.jsonl", pad_to=10):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    lines += [json.dumps(r) for r in good(max(0, pad_to - len(lines)))]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def rules(violations):
    return {(v.line, v.rule) for v in violations}


def test_written_file_is_valid_and_reads_back(tmp_path, qa):
    path = write_jsonl(qa[qa["split"] == "train"], tmp_path / "train.jsonl")
    assert validate_file(path) == []
    records = read_validated(path)
    assert len(records) == (qa["split"] == "train").sum()
    assert records[0]["messages"][0]["content"][0]["text"] == qa[qa["split"] == "train"]["question"].iloc[0]


BROKEN = {
    "json": "{not json",
    "object": "[1, 2]",
    "schema-version": {**good(1)[0], "schemaVersion": 2024},
    "system": {**good(1)[0], "system": "be brief"},
    "messages": {**good(1)[0], "messages": [{"role": "user", "content": [{"text": ""}]},
                                             {"role": "assistant", "content": [{"text": "x"}]}]},
    "role-order": {**good(1)[0], "messages": list(reversed(good(1)[0]["messages"]))},
    "reserved-words": to_record("User: what is S3?", "A storage service."),
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_record_rule_reports_line_and_rule(tmp_path, rule):
    path = write(tmp_path, [good(1)[0], BROKEN[rule]])
    assert (2, rule) in rules(validate_file(path))
    assert all(v.line == 2 for v in validate_file(path))


def test_every_rule_has_a_test():
    assert set(RECORD_RULES) <= set(BROKEN)


def test_file_name_rule(tmp_path):
    assert (0, "file-name") in rules(validate_file(write(tmp_path, [], name="train data.jsonl")))
    assert (0, "file-name") in rules(validate_file(write(tmp_path, [], name="train.json")))


def test_sample_count_rule(tmp_path):
    assert (0, "sample-count") in rules(validate_file(write(tmp_path, good(7), pad_to=7)))
    assert validate_file(write(tmp_path, good(8), pad_to=8)) == []


def test_every_bad_record_is_reported(tmp_path):
    path = write(tmp_path, [BROKEN["json"], good(1)[0], BROKEN["role-order"], BROKEN["reserved-words"]])
    assert rules(validate_file(path)) == {(1, "json"), (3, "role-order"), (4, "reserved-words")}
    with pytest.raises(InvalidTrainingData, match="3 problem") as error:
        read_validated(path)
    assert "line 4: [reserved-words]" in str(error.value)


def test_cli_reports_problems_and_exit_code(tmp_path, capsys):
    from nova_lab.cli import main

    assert main(["validate-jsonl", str(write(tmp_path, [BROKEN["role-order"]]))]) == 1
    assert "line 1: [role-order]" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["user: what is S3?", "ASSISTANT: it stores objects", "Thought: S3 is storage",
                                  "a <UNK> token", "thought: lower case too"])
def test_reserved_words_are_aws_list_in_any_letter_case(tmp_path, text):
    """AWS's validator lowercases both sides and knows Thought: and <unk>: Bedrock fails such a job."""
    path = write(tmp_path, [to_record(text, "A storage service.")])
    assert (1, "reserved-words") in rules(validate_file(path))


def test_fewer_than_100_records_pass_with_a_warning(tmp_path, capsys):
    from nova_lab.cli import main
    from nova_lab.data.nova_format import check_file

    small, enough = write(tmp_path, good(9), pad_to=9), write(tmp_path, good(9), name="big.jsonl", pad_to=100)
    assert check_file(small).violations == [] and "recommends at least 100" in check_file(small).warnings[0]
    assert check_file(enough).warnings == []
    assert main(["validate-jsonl", str(small)]) == 0
    assert "warning: 9 records" in capsys.readouterr().out


def test_unreadable_files_are_one_line_each_and_every_file_is_checked(tmp_path, capsys):
    from nova_lab.cli import main

    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "caf\xe9"}\n')
    folder = tmp_path / "folder"
    folder.mkdir()
    good_file = write(tmp_path, [])
    missing = tmp_path / "missing.jsonl"
    assert main(["validate-jsonl", str(missing), str(binary), str(latin), str(folder), str(good_file)]) == 1
    out, err = capsys.readouterr()
    assert f"{good_file}: 10 record(s), 0 problem(s)" in out  # checked though earlier ones failed
    lines = err.strip().splitlines()
    assert len(lines) == 4 and "Traceback" not in err
    assert "no such file" in lines[0] and "binary data" in lines[1] and "not UTF-8" in lines[2] and "folder" in lines[3]
