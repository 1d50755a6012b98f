"""What matching compares: each listing reduced to its structured side. Matching has no tables of its own; it
reads the listing tables (services.market.listings.models), only the columns named here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["COLUMNS", "Amount", "KindColumns", "Side", "side_of"]


@dataclass(frozen=True, slots=True)
class Amount:
    """A price or budget in fen; ``negotiable`` has no amounts."""

    kind: str
    min_fen: int | None
    max_fen: int | None

    @property
    def known(self) -> bool:
        """Whether it names an amount (fixed or range), not 面议."""
        return self.kind != "negotiable" and self.min_fen is not None

    @property
    def upper_fen(self) -> int | None:
        """The highest amount: a range's max, a fixed amount itself."""
        return self.max_fen if self.max_fen is not None else self.min_fen


@dataclass(frozen=True, slots=True)
class Side:
    """One listing as matching compares it: an achievement's offer or a demand's need."""

    technical_field: str
    trl: int | None  # achievement: its TRL; demand: the lowest TRL it wants
    amount: Amount  # achievement: asking price; demand: budget
    region_code: str
    modes: tuple[str, ...]  # achievement: transfer modes; demand: cooperation modes
    ipc_codes: tuple[str, ...]  # demands carry none today


@dataclass(frozen=True, slots=True)
class KindColumns:
    """The columns of one listing kind that play a part in matching."""

    trl: str
    modes: str
    money: str  # stored as <money>_kind, <money>_min_fen, <money>_max_fen
    summary: str  # the column the card's summary is cut from
    extra: tuple[str, ...]  # further columns of the card or the side

    @property
    def names(self) -> tuple[str, ...]:
        """Every column read for a candidate (the summary is read cut, apart)."""
        common = ("id", "title", "owner_org_id", "technical_field", "region_code", "published_at")
        money = tuple(f"{self.money}_{part}" for part in ("kind", "min_fen", "max_fen"))
        return (*common, self.trl, self.modes, *money, *self.extra)


COLUMNS = {
    "achievement": KindColumns(
        trl="trl", modes="transfer_modes", money="price", summary="summary", extra=("ipc_codes",)
    ),
    # Demands have no IPC codes today; should they get some, adding the column here makes the ipc reason fire.
    "demand": KindColumns(
        trl="desired_trl", modes="cooperation_modes", money="budget", summary="description", extra=("deadline",)
    ),
}


def side_of(kind_name: str, row: Any) -> Side:
    """The side of a listing of kind ``kind_name`` (a model instance or a row holding ``COLUMNS[kind_name]``)."""
    columns = COLUMNS[kind_name]
    money = columns.money
    return Side(
        technical_field=row.technical_field,
        trl=getattr(row, columns.trl),
        amount=Amount(
            getattr(row, f"{money}_kind"), getattr(row, f"{money}_min_fen"), getattr(row, f"{money}_max_fen")
        ),
        region_code=row.region_code,
        modes=tuple(getattr(row, columns.modes)),
        ipc_codes=tuple(getattr(row, "ipc_codes", ())),
    )
