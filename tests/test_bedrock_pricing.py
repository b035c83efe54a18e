"""Each model is priced at the route it is called through: in-Region, a global. profile, or a geographic one."""

import pytest

from nova_lab.costing import costs, pricing

SONNET = "anthropic.claude-sonnet-4-6"


@pytest.mark.parametrize("kind", ["input", "output"])
def test_a_us_profile_of_claude_sonnet_4_6_costs_10_percent_more_and_a_global_one_the_base_price(kind):
    base = pricing.price(f"{SONNET}/{kind}")
    us, world = pricing.price(f"us.{SONNET}/{kind}"), pricing.price(f"global.{SONNET}/{kind}")
    assert us.usd == pytest.approx(1.1 * base.usd) and world == base
    assert not us.verified and "x1.1" in us.source and base.source in us.source  # derived: marked, with both sources


def test_the_premium_is_only_where_a_source_puts_it():
    """Llama and Nova 1 profiles bill the model's price; training is not inference."""
    for item in ("us.meta.llama4-maverick-17b-instruct-v1:0/input", "us.amazon.nova-lite-v1:0/output",
                 "us.amazon.nova-2-lite-v1:0/training"):
        assert pricing.price(item) == pricing.price(pricing.foundation_model(item)), item
    nova2 = pricing.price("us.amazon.nova-2-lite-v1:0/output")
    assert nova2.usd == pytest.approx(2.75) and "Price List" in nova2.source


def test_a_fine_tuned_answer_is_priced_at_its_in_region_deployment():
    assert pricing.served_as("us.amazon.nova-2-lite-v1:0", fine_tuned=True) == "amazon.nova-2-lite-v1:0"
    assert pricing.served_as("us.amazon.nova-2-lite-v1:0", fine_tuned=False) == "us.amazon.nova-2-lite-v1:0"
    rag, tuned_rag = (costs.answer_usd("nova2_lite", configuration, 1000, 50) for configuration in ("rag", "ft_rag"))
    assert rag == pytest.approx(1.1 * tuned_rag)
    assert costs.answer_usd("micro", "base", 1000, 50) == costs.answer_usd("micro", "ft", 1000, 50)
    used = costs.prices_used(["nova2_lite"]).set_index("price")["usd"]
    assert used["us.amazon.nova-2-lite-v1:0/input"] == pytest.approx(1.1 * used["amazon.nova-2-lite-v1:0/input"])
