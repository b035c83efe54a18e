"""The study's words are defined once (nova_lab/core/vocabulary.py) and every table that registers code under a
name agrees with them, so the params refuse exactly the names that would fail later."""

import pytest

from nova_lab.core import vocabulary
from nova_lab.core.registry import registrar
from nova_lab.core.results import uses_adapter, uses_rag
from nova_lab.data.qa import GENERATORS
from nova_lab.judging.judges import JUDGES
from nova_lab.tuning.models import STAND_INS


@pytest.mark.parametrize("declared, registered", [(vocabulary.JUDGE_NAMES, JUDGES),
                                                  (vocabulary.QA_GENERATOR_NAMES, GENERATORS),
                                                  (vocabulary.STAND_IN_NAMES, STAND_INS)])
def test_every_declared_name_has_its_code_and_nothing_else_does(declared, registered):
    assert tuple(registered) == declared


def test_a_registration_under_an_undeclared_name_is_refused_when_the_module_loads():
    with pytest.raises(ValueError, match=r"'mine' is registered but not declared: add it to nova_lab/core/vocab"):
        registrar({}, ("fact_check",))("mine")


def test_the_configurations_say_what_they_use_and_repeats_count_as_their_configuration():
    assert [(c, uses_rag(c), uses_adapter(c)) for c in vocabulary.CONFIGURATIONS] == [
        ("base", False, False), ("rag", True, False), ("ft", False, True), ("ft_rag", True, True)]
    assert uses_rag("ft_rag#2") and uses_adapter("ft#1") and not uses_rag("ft#1")
    assert vocabulary.WITHOUT_FINE_TUNING == {"ft": "base", "ft_rag": "rag"}
    with pytest.raises(ValueError, match=r"configuration 'rag_ft' is not one of \['base', 'rag', 'ft', 'ft_rag'\]"):
        uses_rag("rag_ft")
