"""Imports every table module of the market service so that its metadata is complete (for Alembic)."""

from services.market.audit import models as audit_models  # noqa: F401
from services.market.contracts import models as contracts_models  # noqa: F401
from services.market.directory import models as directory_models  # noqa: F401
from services.market.idempotency import models as idempotency_models  # noqa: F401
from services.market.listings import models as listings_models  # noqa: F401
from services.market.notifications import models as notifications_models  # noqa: F401
from services.market.offices import models as offices_models  # noqa: F401
from services.market.outbox import models as outbox_models  # noqa: F401
from services.market.proposals import models as proposals_models  # noqa: F401
from services.market.saved_searches import models as saved_searches_models  # noqa: F401
from services.market.stats import models as stats_models  # noqa: F401
from services.market.stats.targets import models as stats_targets_models  # noqa: F401
from services.market.webhooks import models as webhooks_models  # noqa: F401
