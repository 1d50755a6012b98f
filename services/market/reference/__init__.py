"""Reference data served at GET /market/reference/{name}: a registry other market domains add tables to.

Interface::

    from services.market.reference import service as reference_service

    reference_service.register_table(
        "ip_types",                                   # ^[a-z][a-z0-9_]{1,63}$, unique
        rows=[{"code": "invention_patent", "label_zh": "发明专利", "label_en": "Invention patent"}, ...]
             # or a zero-argument callable returning the rows (loaded on first use, then cached)
        description="Kinds of intellectual property", version="2024",    # version: optional free text
    )
    reference_service.get_table("ip_types") -> ReferenceTable | None
    reference_service.table_names() -> list[str]

Every row needs ``code`` (str) and ``label_zh`` (str); other keys (label_en, order, parent_code, level, …) are
passed through. Register at import time of your domain's module (the app imports every router). Registering the
same name twice raises unless ``replace=True``.
"""
