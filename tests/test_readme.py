"""The README says what the committed analysis says: its findings are generated from the recorded numbers."""

from nova_lab.analysis import findings
from nova_lab.core import paths
from nova_lab.core.notebook_utils import read_notebook

COMMITTED = paths.PROJ_ROOT / "outputs" / "study" / "06_analysis.ipynb"


def test_the_readmes_findings_are_the_committed_analysis_numbers():
    readme = (paths.PROJ_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(findings.README_START)
    end = readme.index(findings.README_END) + len(findings.README_END)
    assert readme[start:end] == findings.readme_section(read_notebook(COMMITTED)), (
        "the README's findings drifted from outputs/study/06_analysis.ipynb: paste the output of "
        "python -m nova_lab.analysis.findings outputs/study/06_analysis.ipynb between its markers")


def test_the_findings_give_quality_by_kind_and_fabrication_from_what_06_recorded():
    recorded = read_notebook(COMMITTED)
    section = findings.readme_section(recorded)
    for row in recorded["fabrication"]:
        assert f"{row['fabrication_rate']:.0%} [{row['ci_low']:.0%}, {row['ci_high']:.0%}]" in section
    kinds = {row["kind"] for row in recorded["quality_by_kind"]}
    assert kinds and all(f"| {kind} |" in section for kind in kinds)


def test_no_finding_in_the_readme_is_written_by_hand():
    """Numbers drift: outside the generated block, "What the offline study found" holds none."""
    import re

    readme = (paths.PROJ_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## What the offline study found"):readme.index("\n## ", readme.index("## What the offline"))]
    outside = section[:section.index(findings.README_START)] + section[section.index(findings.README_END):]
    assert not re.findall(r"\d+\.\d+|\d+%|\b\d{2,}\b(?!_)", outside.replace("06_analysis", "")), outside
