"""The README says what the committed analysis says: its findings are generated from the recorded numbers."""

from nova_lab import findings, paths
from nova_lab.notebook_utils import read_notebook

COMMITTED = paths.PROJ_ROOT / "outputs" / "study" / "06_analysis.ipynb"


def test_the_readmes_findings_are_the_committed_analysis_numbers():
    readme = (paths.PROJ_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(findings.README_START)
    end = readme.index(findings.README_END) + len(findings.README_END)
    assert readme[start:end] == findings.readme_section(read_notebook(COMMITTED)), (
        "the README's findings drifted from outputs/study/06_analysis.ipynb: paste the output of "
        "python -m nova_lab.findings outputs/study/06_analysis.ipynb between its markers")
