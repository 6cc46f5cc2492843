"""What a model call cost, in USD, from its token usage.

Prices are per million tokens (list prices on the Anthropic API). Cache writes cost 1.25x input (5-minute
TTL) and cache reads 0.1x input. Ids are matched by family and version, so dated ids
(`claude-opus-4-1-20250805`), Bedrock ids (`us.anthropic.claude-sonnet-5-v1:0`) and `[1m]` variants all
price correctly. An id we cannot place is priced as Sonnet, the middle of the range, so a budget guard
neither ignores it nor over-reacts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .messages import Usage
from .models import split_context_suffix

CACHE_WRITE_MULTIPLIER = 1.25
CACHE_READ_MULTIPLIER = 0.1
# With the 1M-context variant, requests over 200k input tokens are billed at a premium.
LONG_CONTEXT_THRESHOLD = 200_000
LONG_CONTEXT_INPUT_MULTIPLIER = 2.0
LONG_CONTEXT_OUTPUT_MULTIPLIER = 1.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


SONNET = Price(input_per_mtok=3.0, output_per_mtok=15.0)
OPUS = Price(input_per_mtok=5.0, output_per_mtok=25.0)
OPUS_LEGACY = Price(input_per_mtok=15.0, output_per_mtok=75.0)
HAIKU = Price(input_per_mtok=1.0, output_per_mtok=5.0)
HAIKU_3_5 = Price(input_per_mtok=0.8, output_per_mtok=4.0)
HAIKU_3 = Price(input_per_mtok=0.25, output_per_mtok=1.25)

_FAMILY = re.compile(r"(opus|sonnet|haiku)")
# Version digits sit either side of the family name: claude-3-5-haiku, claude-opus-4-5, claude-sonnet-5.
# A run of 8 digits is a snapshot date, never a minor version.
_VERSION = re.compile(r"(?<![0-9])([0-9])(?:[-.]([0-9]{1,2}))?(?![0-9])")


def price_for(model_id: str) -> Price:
    """The list price of a model id; unknown ids are priced as Sonnet."""
    name = split_context_suffix(model_id)[0].lower()
    family_match = _FAMILY.search(name)
    if family_match is None:
        return SONNET
    family = family_match.group(1)
    version = _version(name)
    if family == "opus":
        return OPUS if version >= (4, 5) else OPUS_LEGACY
    if family == "haiku":
        if version >= (4, 0):
            return HAIKU
        return HAIKU_3_5 if version >= (3, 5) else HAIKU_3
    return SONNET


def cost_usd(model_id: str, usage: Usage) -> float:
    """USD cost of one call (or of summed usage from calls to the same model)."""
    price = price_for(model_id)
    input_rate = price.input_per_mtok
    output_rate = price.output_per_mtok
    prompt_tokens = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    if split_context_suffix(model_id)[1] and prompt_tokens > LONG_CONTEXT_THRESHOLD:
        input_rate *= LONG_CONTEXT_INPUT_MULTIPLIER
        output_rate *= LONG_CONTEXT_OUTPUT_MULTIPLIER
    total = (
        usage.input_tokens * input_rate
        + usage.cache_creation_input_tokens * input_rate * CACHE_WRITE_MULTIPLIER
        + usage.cache_read_input_tokens * input_rate * CACHE_READ_MULTIPLIER
        + usage.output_tokens * output_rate
    )
    return total / 1_000_000


def _version(name: str) -> tuple[int, int]:
    # Drop snapshot dates and Bedrock's `-v1:0` tail so they are not mistaken for versions.
    cleaned = re.sub(r"[0-9]{8}", "", name)
    cleaned = re.sub(r"-v[0-9]+(:[0-9]+)?$", "", cleaned)
    cleaned = cleaned.split("anthropic.")[-1]
    match = _VERSION.search(cleaned)
    if match is None:
        return (0, 0)
    return int(match.group(1)), int(match.group(2) or 0)
