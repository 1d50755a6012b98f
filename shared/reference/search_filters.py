"""The checks of a listing search's filters that no single field's type can make, shared by every place that takes
one: search's query endpoints and market's saved searches (which search runs later, so the same rules hold)."""

from __future__ import annotations

from shared.errors import ValidationFailed
from shared.reference.regions import is_valid_region
from shared.reference.technical_fields import is_technical_field

__all__ = ["check_search_filters"]


def check_search_filters(
    *,
    technical_field: str | None,
    region: str | None,
    trl_min: int | None,
    trl_max: int | None,
    amount_min_fen: int | None,
    amount_max_fen: int | None,
    amount_names: tuple[str, str],
) -> None:
    """422 naming the parameter: an unknown technical field or region code, or a range whose low end is above its
    high end (``amount_names`` are the amount range's public names: price_* for achievements, budget_* for demands)."""
    if technical_field is not None and not is_technical_field(technical_field):
        raise ValidationFailed.field(
            "technical_field", "not one of the 11 technical field codes (electronic_information, ..., urban_social)"
        )
    if region is not None and not is_valid_region(region):
        raise ValidationFailed.field("region", "not a GB/T 2260 region code")
    if trl_min is not None and trl_max is not None and trl_min > trl_max:
        raise ValidationFailed.field("trl_min", "must not exceed trl_max")
    if amount_min_fen is not None and amount_max_fen is not None and amount_min_fen > amount_max_fen:
        raise ValidationFailed.field(amount_names[0], f"must not exceed {amount_names[1]}")
