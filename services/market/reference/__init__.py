"""Reference data: every code table of the market (code → Chinese and English labels), served at
GET /market/reference/{name}. The reference domain owns them; other domains import from it, never the reverse.

Interface::

    from services.market.reference import service as reference_service
    from services.market.reference import codes, contract_rules

    codes.IpType.INVENTION_PATENT            # a StrEnum member: == "invention_patent"; .label_zh == "发明专利"
    codes.labels_zh(["transfer", "equity"], codes.TransferMode) -> "转让、作价入股"
    contract_rules.kinds(rules_version), contract_rules.rules_version_for(day), …   # versioned, from data/*.csv
    reference_service.get_table("ip_types") -> ReferenceTable | None   # .rows(), .codes(), .description, .version
    reference_service.table_names() -> list[str]

Every row has ``code`` (str) and ``label_zh`` (str); other keys (label_en, order, parent_code, level, …) are
passed through. A new table is one more entry in ``tables.TABLES`` (a code list in ``codes``, a data file, or a
loader); nothing is registered at import time.
"""
