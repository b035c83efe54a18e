"""Every figure of the analysis page is labelled in words: no code names (`ft_rag`, `alpha_interval`) in titles,
axes, ticks or legends."""

import re

import matplotlib
import numpy as np
import pandas as pd

from nova_lab.analysis import figures

matplotlib.use("Agg")
CODE_NAME = re.compile(r"\b[a-z]+_[a-z_0-9]+\b")


def texts(figure) -> list[str]:
    found = [figure._suptitle.get_text()] if figure._suptitle else []
    for axes in figure.axes:
        found += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
        found += [t.get_text() for t in axes.get_xticklabels() + axes.get_yticklabels()]
        legend = axes.get_legend()
        found += [t.get_text() for t in legend.get_texts()] if legend else []
    return [t for t in found if t]


def data(seed=0):
    rng = np.random.default_rng(seed)
    answers = pd.DataFrame([{"model": m, "configuration": c, "quality": rng.uniform(0, 10), "total_tokens": 100 + i,
                             "semantic": rng.uniform(0, 10), "fact_check": rng.uniform(0, 10)}
                            for m in ("micro", "lite") for c in ("base", "rag", "ft", "ft_rag") for i in range(10)])
    latency = answers.assign(latency_ms=rng.uniform(100, 900, len(answers)))
    agreement = pd.DataFrame([{"model": m, "configuration": c, "spearman": 0.8, "alpha_interval": 0.7, "ICC2": 0.75}
                              for m in ("micro", "lite") for c in ("base", "rag", "ft", "ft_rag")]).set_index(
        ["model", "configuration"])
    trade = pd.DataFrame([{"model": m, "configuration": c, "quality": q, "quality_low": q - 0.3, "quality_high": q + 0.3,
                           "usd_per_million_answers": usd, "unbeaten": q > 3}
                          for m in ("micro", "lite") for c, q, usd in (("base", 1.0, 20), ("rag", 3.0, 90),
                                                                       ("ft", 2.5, 25), ("ft_rag", 5.0, 95))])
    return answers, latency, agreement, trade


def test_no_figure_shows_a_code_name():
    answers, latency, agreement, trade = data()
    drawn = {"quality": figures.quality(answers, 1), "distributions": figures.distributions(answers, latency),
             "tradeoff": figures.tradeoff(trade),
             "judge agreement": figures.judge_agreement(answers, ["semantic", "fact_check"], agreement)}
    for name, figure in drawn.items():
        shown = texts(figure)
        assert shown, name
        assert not [t for t in shown if CODE_NAME.search(t)], (name, [t for t in shown if CODE_NAME.search(t)])
    assert "fine-tuned + RAG" in texts(drawn["quality"])


def test_the_html_page_has_the_notebooks_title_and_each_figure_says_what_it_shows(tmp_path):
    import base64

    import nbformat

    from nova_lab import runner
    from nova_lab.core import notebook_utils

    figure = figures.tradeoff(data()[3])
    described = notebook_utils.describe(figure)
    assert described.startswith("Figure: quality against the cost of an answer") and "USD per million" in described
    png = base64.b64encode(b"\x89PNG fake").decode()
    node = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 06 · Analysis: fine-tuning, RAG, or both?\n\ntext"),
        nbformat.v4.new_code_cell("figure", outputs=[nbformat.v4.new_output(
            "display_data", data={"image/png": png, "text/plain": described})])])
    path = tmp_path / "06_analysis.ipynb"
    nbformat.write(node, path)
    html = runner.render_html(path).read_text()
    assert "<title>06 · Analysis: fine-tuning, RAG, or both?</title>" in html
    assert 'alt="Figure: quality against the cost of an answer' in html
