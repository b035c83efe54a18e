"""The judges against blind grades: drawing the set, settling two readings, and each agreement figure on
constructed judges whose answer is known."""

import json

import numpy as np
import pandas as pd
import pytest

from nova_lab.judging import graded_set


def answers_and_questions(n_questions=20):
    questions = pd.DataFrame({"id": [f"q{i}" for i in range(n_questions)], "question": "Q?", "reference_answer": "R.",
                              "key_facts": [("X",)] * n_questions,
                              "stratum": ["seen" if i % 2 else "unseen" for i in range(n_questions)],
                              "kind": ["exact value" if i % 4 < 2 else "what it does" for i in range(n_questions)]})
    answers = pd.DataFrame([{"key": f"{m}-{c}-{q}", "question_id": q, "model": m, "configuration": c, "answer": "A"}
                            for m in ("micro", "lite") for c in ("base", "rag", "ft", "ft_rag") for q in questions["id"]])
    return answers, questions


def test_the_set_is_stratified_shuffled_split_in_halves_and_the_sheet_is_blind():
    answers, questions = answers_and_questions()
    drawn = graded_set.draw(answers, questions, per_cell=4, seed=1)
    assert len(drawn) == 2 * 4 * 2 * 4 and drawn["answer_key"].is_unique
    assert drawn.groupby(["model", "configuration", "stratum"]).size().eq(4).all()
    assert drawn.groupby(["model", "configuration", "stratum", "part"]).size().eq(2).all()  # half held out per cell
    assert drawn["model"].head(8).nunique() > 1 or drawn["configuration"].head(8).nunique() > 1  # shuffled
    assert list(graded_set.blind(drawn).columns) == ["item", "question", "reference", "answer"]
    assert drawn.equals(graded_set.draw(answers, questions, per_cell=4, seed=1))
    one_model = graded_set.draw(answers[answers["model"] == "micro"], questions, per_cell=4, seed=1)
    assert one_model.equals(drawn[drawn["model"] == "micro"].reset_index(drop=True))  # a model can be drawn alone


def test_a_draw_by_kind_covers_only_the_kinds_asked_for_each_cell_alike():
    answers, questions = answers_and_questions()
    drawn = graded_set.draw(answers, questions, per_cell=4, seed=1, by="kind", kinds=("what it does",))
    assert set(drawn["kind"]) == {"what it does"}
    assert drawn.groupby(["model", "configuration"]).size().eq(4).all()
    assert drawn.groupby(["model", "configuration", "part"]).size().eq(2).all()


def test_two_readings_are_averaged_unless_a_third_settles_them():
    assert graded_set.settle(2, 4, None) == 3
    assert graded_set.settle(0, 8, 1) == 1  # the median of three
    with pytest.raises(ValueError, match="a third reading is needed"):
        graded_set.settle(0, 8, None)


def graded_and_scores(seed=0, n=160):
    rng = np.random.default_rng(seed)
    grade = rng.integers(0, 11, n).astype(float)
    graded = pd.DataFrame({"item": [f"g{i:03d}" for i in range(n)], "part": ["development", "held_out"] * (n // 2),
                           "model": ["micro", "lite"] * (n // 2), "stratum": "seen", "kind": "exact value",
                           "configuration": np.repeat(["base", "rag", "ft", "ft_rag"], n // 4), "grade": grade})
    judges = {"exact": grade, "lenient": np.clip(grade + 4, 0, 10), "noise": rng.integers(0, 11, n).astype(float)}
    scores = pd.concat([pd.DataFrame({"item": graded["item"], "judge": j, "score": s}) for j, s in judges.items()])
    return graded, scores


def test_a_judge_that_agrees_is_fit_a_lenient_one_ranks_well_but_is_not():
    graded, scores = graded_and_scores()
    table = graded_set.judges_against_grades(graded, scores)
    table = table[table["kind"] == graded_set.EVERY_KIND].set_index(["part", "judge"])
    exact, lenient, noise = (table.loc[("whole set", j)] for j in ("exact", "lenient", "noise"))
    assert exact["alpha"] == pytest.approx(1) and exact["kappa_3_bins"] == pytest.approx(1)
    assert exact["mean_abs_error"] == 0 and exact["fit_to_stand_alone"]
    assert lenient["spearman"] > 0.9 and lenient["alpha"] < graded_set.FIT_ALPHA and not lenient["fit_to_stand_alone"]
    assert abs(noise["alpha"]) < 0.3 and not noise["fit_to_stand_alone"]
    assert set(table.index.get_level_values("part")) == {"development", "held_out", "whole set"}
    assert table.loc[("held_out", "panel"), "answers"] == 80


def test_each_judge_is_checked_on_the_kinds_it_scores_and_the_panel_on_each_kind():
    """A judge right on one kind and wrong on another must not pass on the two together; a judge that does not
    score a kind is not in that kind's rows, and the panel there is the mean of the judges that do score it."""
    graded, scores = graded_and_scores()
    graded["kind"] = np.where(np.arange(len(graded)) % 4 < 2, "exact value", "what it does")
    free_text = graded.loc[graded["kind"] == "what it does", "item"]
    wrong_there = scores["item"].isin(free_text) & (scores["judge"] == "exact")
    scores = scores.assign(score=np.where(wrong_there, 10 - scores["score"], scores["score"]))  # inverted there
    only_free = scores[(scores["judge"] == "exact") & scores["item"].isin(free_text)].assign(judge="free_only")
    table = graded_set.judges_against_grades(graded, pd.concat([scores, only_free])).set_index(["kind", "part", "judge"])
    assert table.loc[("exact value", "whole set", "exact"), "alpha"] == pytest.approx(1)
    assert table.loc[("what it does", "whole set", "exact"), "alpha"] < 0
    assert ("exact value", "whole set", "free_only") not in table.index
    assert table.loc[("what it does", "whole set", "free_only"), "answers"] == len(free_text)
    levels = graded_set.cell_levels(graded, scores)
    assert set(levels.index.get_level_values("kind")) == {"exact value", "what it does"}


def _ranking_by_loop(graded, scores, resamples, seed):
    """cell_ranking as a plain loop over resamples: what the one-groupby version must equal exactly."""
    wide = graded_set._wide(graded, scores).dropna(subset=["panel"])
    rng = np.random.default_rng(seed)
    cells = [cell for _, cell in wide.groupby(graded_set.CELL)]
    draws = [graded_set._tau(pd.concat([c.iloc[rng.integers(0, len(c), len(c))] for c in cells]))
             for _ in range(resamples)]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return {"cells": len(cells), "kendall_tau": graded_set._tau(wide), "ci_low": float(low), "ci_high": float(high)}


def test_cell_levels_ranking_and_error_correlation():
    graded, scores = graded_and_scores()
    levels = graded_set.cell_levels(graded, scores)
    assert len(levels) == 8 and levels["answers"].sum() == 160
    same = scores[scores["judge"] == "exact"]
    ranking = graded_set.cell_ranking(graded, pd.concat([same, same.assign(judge="copy")]), resamples=50, seed=1)
    assert ranking["kendall_tau"] == pytest.approx(1) and ranking["cells"] == 8
    noisy = scores[scores["judge"] == "noise"]
    assert graded_set.cell_ranking(graded, noisy, resamples=50, seed=1) == _ranking_by_loop(graded, noisy, 50, 1)
    twins = pd.concat([scores[scores["judge"] == "noise"], scores[scores["judge"] == "noise"].assign(judge="twin")])
    errors = graded_set.error_correlation(graded, twins)
    assert errors["mean_error_correlation"] == pytest.approx(1) and errors["effective_votes"] == pytest.approx(1)


def test_the_offline_panel_scores_the_set_once_and_a_judge_that_did_not_is_named(tmp_path, monkeypatch):
    from nova_lab.core.study_steps import StepNotRun
    from nova_lab.judging import verdicts

    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    graded = pd.DataFrame({"item": ["g001", "g002"], "question": ["What protocol does Amazon SQS use?"] * 2,
                           "reference": ["Amazon SQS uses the query protocol."] * 2, "key_facts": [["query"]] * 2,
                           "answer": ["It uses the query protocol.", "It uses gRPC."], "answer_key": ["k1", "k2"],
                           "kind": "exact value"})
    store = graded_set.store("graded-unit")
    scores = graded_set.score(graded, verdicts.panel(["semantic", "fact_check"]), store)
    wide = scores.pivot(index="item", columns="judge", values="score")
    assert (wide.loc["g001"] > wide.loc["g002"]).all()  # the right answer above the wrong one, for both judges
    assert len(store.frame()) == 4 and graded_set.score(graded, verdicts.panel(["fact_check"]), store).equals(
        scores[scores["judge"] == "fact_check"].reset_index(drop=True))  # nothing judged twice
    assert len(store.frame()) == 4
    with pytest.raises(StepNotRun, match=r"judge\(s\) \['claude'\] have not scored the graded set"):
        graded_set.read_scores(graded, ["claude"], store)


def test_readings_are_assembled_and_a_wide_gap_needs_the_third(tmp_path):
    answers, questions = answers_and_questions(4)
    drawn = graded_set.draw(answers[answers["model"] == "micro"], questions, per_cell=1, seed=1)
    first = pd.DataFrame({"item": drawn["item"], "grade": 2.0, "reason": "a"})
    second = first.assign(grade=[9.0] + [3.0] * (len(drawn) - 1), reason="b")
    with pytest.raises(ValueError, match="a third reading is needed"):
        graded_set.assemble(drawn, first, second, None, "study", "2026-11-30")
    third = pd.DataFrame({"item": [drawn["item"][0]], "grade": [4.0], "reason": ["c"]})
    graded = graded_set.assemble(drawn, first, second, third, "study", "2026-11-30")
    assert graded["grade"].tolist() == [4.0] + [2.5] * (len(drawn) - 1)
    path = tmp_path / "graded.jsonl"
    graded_set.write(graded, path)
    again = graded_set.read(path)
    assert again["grade"].tolist() == graded["grade"].tolist() and again["key_facts"].iloc[0] == ["X"]
    (tmp_path / "bad.jsonl").write_text('{"item": "g1", "grade": 11, "reason": "x"}\n')
    with pytest.raises(ValueError, match="outside 0-10"):
        graded_set.read_readings(tmp_path / "bad.jsonl")


def test_your_graded_set_is_read_in_place_of_the_packages_and_a_bad_one_is_named_by_line(tmp_path):
    from nova_lab.core import paths

    assert graded_set.source(None) == graded_set.GRADED_FILE
    package = graded_set.read(graded_set.source(None))
    mine = tmp_path / "grades.jsonl"
    graded_set.write(package.head(3).assign(run="mine", grade=[10, 0, 5]), mine)
    assert graded_set.source(str(mine)) == mine  # absolute, or relative to the project folder
    assert graded_set.source("g/mine.jsonl") == paths.PROJ_ROOT / "g/mine.jsonl"
    assert graded_set.read(mine)["grade"].tolist() == [10, 0, 5]
    assert graded_set.describe(mine, graded_set.read(mine)).startswith("Your graded set, ")
    assert ": 3 answers of run(s) mine, graded by your reviewers" in graded_set.describe(mine, graded_set.read(mine))
    assert "On a study of your own documents it checks the judges on AWS answers" in graded_set.describe(
        graded_set.GRADED_FILE, package)
    row = package.head(1).to_dict("records")[0]
    for bad, message in [({**row, "grade": "ten"}, r"line 2: grade 'ten' is not a number from 0 to 10"),
                         ({**row, "part": "dev"}, r"line 2: part 'dev' is not one of \['development', 'held_out'\]"),
                         ({k: v for k, v in row.items() if k != "answer"}, r"line 2: no \['answer'\] value")]:
        graded_set.write(pd.DataFrame([row, bad]), mine)
        with pytest.raises(graded_set.GradedSetError, match=message):
            graded_set.read(mine)
    mine.write_text(json.dumps(row) + "\n{oops\n")
    with pytest.raises(graded_set.GradedSetError, match=r"grades\.jsonl line 2: not JSON"):
        graded_set.read(mine)
    with pytest.raises(graded_set.GradedSetError, match=r"grades: .*gone\.jsonl is not there \(make it with"):
        graded_set.read(tmp_path / "gone.jsonl")


def test_the_targets_are_read_on_the_held_out_half_and_a_miss_is_named():
    from nova_lab.analysis import report

    graded, scores = graded_and_scores()
    rows = graded_set.targets(graded, scores[scores["judge"].isin(["exact", "lenient"])])
    met = {r["target"]: r["met"] for r in rows}
    assert met["exact on exact value: alpha >= 0.8"] and not met["lenient on exact value: alpha >= 0.8"]
    assert not met["lite base: panel mean within 0.5 of the grades'"]  # the panel is half lenient: +2 points or so
    text = report.targets_summary(rows)
    assert "lenient on exact value: alpha >= 0.8" in text and "exact on exact value" not in text
    exact_only = graded_set.targets(graded, scores[scores["judge"] == "exact"])
    assert all(r["met"] for r in exact_only) and "Missed" not in report.targets_summary(exact_only)


def test_a_judge_the_set_cannot_check_misses_its_target_by_name():
    graded, scores = graded_and_scores()
    never = scores[scores["judge"] == "exact"].assign(judge="free_text_only", score=np.nan)
    rows = graded_set.targets(graded, pd.concat([scores[scores["judge"] == "exact"], never]))
    unchecked = [r for r in rows if r["target"].startswith("free_text_only")]
    assert len(unchecked) == 1 and not unchecked[0]["met"]
    errors = graded_set.error_correlation(graded, pd.concat([scores[scores["judge"] == "exact"], never]))
    assert errors["judges"] == 1  # a judge that scored nothing is not a vote


def test_the_readme_of_the_set_says_how_each_grading_agreed_as_the_set_does():
    graded = graded_set.read()
    lines = graded_set.readings_agreement(graded)
    assert graded["graded_on"].nunique() >= 2
    readme = (graded_set.GRADED_DIR / "README.md").read_text(encoding="utf-8")
    missing = [line for line in lines if line not in readme.replace("\n", " ")]
    assert not missing, f"nova_lab/judging/graded/README.md drifted from the set; it should say: {missing}"
    assert readme.count("**How the readings agreed (") == len(lines)


def test_readings_agreement_counts_the_third_readings():
    graded = pd.DataFrame({"graded_on": "d", "grade_a": [0, 5, 10, 2], "grade_b": [1, 5, 5, 2],
                           "grade_c": [None, 4, 6, None]})  # a third reading of a close pair is not a settled gap
    assert graded_set.readings_agreement(graded) == [
        "**How the readings agreed (d).** Spearman 0.95 between graders A and B over the 4 answers; mean absolute "
        "difference 1.50 points, largest 5; 1 pair(s) more than 3 points apart, settled by a third reading."]


def test_a_kind_whose_grades_and_scores_never_vary_is_named_not_checkable_without_a_warning():
    import warnings

    graded, scores = graded_and_scores(n=8)
    graded = graded.assign(kind="unanswerable", grade=0.0)
    scores = scores[scores["judge"] == "exact"].assign(score=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 06 shows warnings on the page: a constant kind must raise none
        table = graded_set.judges_against_grades(graded, scores)
        rows = graded_set.targets(graded, scores)
    held = table[(table["part"] == "held_out") & (table["judge"] == "exact") & (table["kind"] == "unanswerable")].iloc[0]
    assert np.isnan(held["alpha"]) and np.isnan(held["spearman"]) and np.isnan(held["kappa_3_bins"])
    assert held["mean_abs_error"] == 0
    missed = {r["target"] for r in rows if not r["met"]}
    assert ("exact on unanswerable: alpha >= 0.8 (not checkable here: all 4 held-out answers have the same grade and "
            "score, 0)") in missed
