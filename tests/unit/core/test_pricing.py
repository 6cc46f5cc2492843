from __future__ import annotations

import pytest

from dexa.core.messages import Usage
from dexa.core.pricing import HAIKU, HAIKU_3, HAIKU_3_5, OPUS, OPUS_LEGACY, SONNET, cost_usd, price_for

MTOK = 1_000_000


@pytest.mark.parametrize(
    ("model_id", "price"),
    [
        ("claude-sonnet-5", SONNET),
        ("claude-sonnet-4-5-20250929", SONNET),
        ("claude-3-7-sonnet-latest", SONNET),
        ("claude-opus-5", OPUS),
        ("claude-opus-4-5-20251101", OPUS),
        ("claude-opus-4-6[1m]", OPUS),
        ("us.anthropic.claude-opus-4-5-20251101-v1:0", OPUS),
        ("claude-opus-4-1-20250805", OPUS_LEGACY),
        ("claude-opus-4-20250514", OPUS_LEGACY),
        ("claude-3-opus-20240229", OPUS_LEGACY),
        ("claude-haiku-4-5", HAIKU),
        ("apac.anthropic.claude-haiku-4-5-20251001-v1:0", HAIKU),
        ("claude-3-5-haiku-20241022", HAIKU_3_5),
        ("claude-3-haiku-20240307", HAIKU_3),
        ("some-gateway-model", SONNET),
        ("scripted:/tmp/x.json", SONNET),
    ],
)
def test_ids_are_priced_by_family_and_version(model_id: str, price: object) -> None:
    assert price_for(model_id) == price


def test_cost_counts_input_output_and_cache_tokens_at_their_rates() -> None:
    usage = Usage(input_tokens=MTOK, output_tokens=MTOK, cache_creation_input_tokens=MTOK, cache_read_input_tokens=MTOK)
    # Sonnet: 3 in + 15 out + 3.75 write + 0.30 read
    assert cost_usd("claude-sonnet-5", usage) == pytest.approx(22.05)
    # Opus 4.5+: 5 + 25 + 6.25 + 0.5
    assert cost_usd("claude-opus-5", usage) == pytest.approx(36.75)
    # Opus 4.1: 15 + 75 + 18.75 + 1.5
    assert cost_usd("claude-opus-4-1", usage) == pytest.approx(110.25)
    # Haiku 4.5: 1 + 5 + 1.25 + 0.1
    assert cost_usd("claude-haiku-4-5", usage) == pytest.approx(7.35)


def test_small_call_costs_fractions_of_a_cent() -> None:
    assert cost_usd("claude-sonnet-5", Usage(input_tokens=1000, output_tokens=100)) == pytest.approx(0.0045)
    assert cost_usd("claude-sonnet-5", Usage()) == 0.0


def test_long_context_requests_over_200k_pay_the_premium_only_on_1m_models() -> None:
    usage = Usage(input_tokens=300_000, output_tokens=1000)
    assert cost_usd("claude-sonnet-5", usage) == pytest.approx(0.9 + 0.015)
    assert cost_usd("claude-sonnet-5[1m]", usage) == pytest.approx(1.8 + 0.0225)
    assert cost_usd("claude-sonnet-5[1m]", Usage(input_tokens=100_000)) == pytest.approx(0.3)
