"""Migration market_0007: each contract party's verification (old rows read unverified), the directory's
credit-code index; and back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import UTCDateTime
from tests.market.helpers import migrate_market

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
OFFICES = sa.table(
    "registration_offices",
    sa.column("id", sa.Uuid()),
    *(sa.column(n) for n in ("region_code", "region_prefix", "name", "active", "created_by")),
    sa.column("created_at", UTCDateTime()),
)
# The contract's columns as of market_0006 (no verification yet).
CONTRACTS = sa.table(
    "contracts",
    *(
        sa.column(n)
        for n in (
            "status",
            "rules_version",
            "kind",
            "subkind",
            "technical_field",
            "title",
            "contract_no",
            "contract_amount_fen",
            "claimed_technology_amount_fen",
            "seller_name",
            "seller_region_code",
            "seller_entity_type",
            "buyer_name",
            "buyer_region_code",
            "buyer_entity_type",
            "flow",
            "submitter_subject",
            "dedupe_key",
            "version",
        )
    ),
    sa.column("id", sa.Uuid()),
    sa.column("office_id", sa.Uuid()),
    sa.column("signed_on", sa.Date()),
    sa.column("attachments", sa.JSON()),
    *(sa.column(n, UTCDateTime()) for n in ("submitted_at", "created_at", "updated_at")),
)


async def insert_office_and_contract(
    engine: AsyncEngine, *, office_id: uuid.UUID, contract_id: uuid.UUID, status: str = "submitted"
) -> None:
    """An office and a contract with the columns every revision since market_0006 has (later ones default)."""
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(OFFICES).values(
                id=office_id,
                region_code="510100",
                region_prefix="5101",
                name="成都市技术市场登记处",
                active=True,
                created_by="test",
                created_at=NOW,
            )
        )
        await connection.execute(
            sa.insert(CONTRACTS).values(
                id=contract_id,
                status=status,
                rules_version="2026",
                kind="transfer",
                subkind="patent_right_transfer",
                technical_field="new_materials",
                title="旧合同",
                contract_no="OLD-1",
                signed_on=dt.date(2026, 10, 1),
                contract_amount_fen=100,
                claimed_technology_amount_fen=100,
                seller_name="某大学",
                seller_region_code="510104",
                seller_entity_type="university",
                buyer_name="某公司",
                buyer_region_code="500103",
                buyer_entity_type="enterprise",
                flow="to_chongqing",
                office_id=office_id,
                submitter_subject="someone",
                dedupe_key="old-1",
                version=1,
                attachments=[],
                submitted_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )


async def _state(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    def read(sync: Any) -> tuple[set[str], set[str]]:
        inspector = sa.inspect(sync)
        columns = {c["name"] for c in inspector.get_columns("contracts")}
        indexes = {i["name"] or "" for i in inspector.get_indexes("market_organizations")}
        return columns, indexes

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def test_old_contracts_read_unverified_and_the_migration_reverts(empty_engine: AsyncEngine) -> None:
    await migrate_market(empty_engine, "upgrade", "market_0006")
    office_id, contract_id = uuid.uuid4(), uuid.uuid4()
    await insert_office_and_contract(empty_engine, office_id=office_id, contract_id=contract_id)
    await migrate_market(empty_engine, "upgrade", "heads")
    columns, indexes = await _state(empty_engine)
    assert {"seller_verification", "buyer_verification"} <= columns
    assert "ix_market_organizations_credit_code" in indexes
    async with empty_engine.connect() as connection:
        row = (
            await connection.execute(
                sa.text("SELECT seller_verification, buyer_verification FROM contracts WHERE contract_no = 'OLD-1'")
            )
        ).one()
    assert tuple(row) == ("unverified", "unverified")

    await migrate_market(empty_engine, "downgrade", "market_0006")
    columns, indexes = await _state(empty_engine)
    assert not {"seller_verification", "buyer_verification"} & columns
    assert "ix_market_organizations_credit_code" not in indexes
