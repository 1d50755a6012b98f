"""Imports every table module of the auth service so that its metadata is complete (for Alembic)."""

from services.auth.audit import models as audit_models
from services.auth.clients import models as clients_models
from services.auth.keys import models as keys_models
from services.auth.messages import models as messages_models
from services.auth.organizations import models as organizations_models
from services.auth.outbox import models as outbox_models
from services.auth.tokens import models as tokens_models
from services.auth.users import models as users_models

__all__ = [
    "audit_models",
    "clients_models",
    "keys_models",
    "messages_models",
    "organizations_models",
    "outbox_models",
    "tokens_models",
    "users_models",
]
