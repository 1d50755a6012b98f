"""What matching compares: each listing reduced to its structured sides. Matching has no tables of its own; it
reads the listing tables (services.market.listings.models)."""

from __future__ import annotations

from dataclasses import dataclass

from services.market.listings.models import Achievement, Demand, Listing

__all__ = ["Amount", "Side", "side_of"]


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


def side_of(row: Listing) -> Side:
    """The side of an achievement or demand row."""
    if isinstance(row, Achievement):
        trl, money, modes = row.trl, "price", row.transfer_modes
    else:
        assert isinstance(row, Demand)
        trl, money, modes = row.desired_trl, "budget", row.cooperation_modes
    return Side(
        technical_field=row.technical_field,
        trl=trl,
        amount=Amount(
            getattr(row, f"{money}_kind"), getattr(row, f"{money}_min_fen"), getattr(row, f"{money}_max_fen")
        ),
        region_code=row.region_code,
        modes=tuple(modes),
        # Demands have no IPC codes today; should they get some, the ipc reason starts to fire by itself.
        ipc_codes=tuple(getattr(row, "ipc_codes", ())),
    )
