"""Who may do what in the auth service, from the caller's token."""

from __future__ import annotations

import uuid

from services.auth.vocabulary import OrgKind, Role
from shared.security import Principal

__all__ = ["DIRECTORY_SCOPE", "is_org_admin_of", "is_platform_admin", "may_see", "reads_whole_directory"]

# The scope of a service client that reads every organization, whatever its status (market's directory rebuild).
DIRECTORY_SCOPE = "auth:directory"


def is_platform_admin(principal: Principal) -> bool:
    """A platform admin: the role, held in the center."""
    return principal.has_role(Role.PLATFORM_ADMIN) and principal.org_kind == OrgKind.CENTER and not principal.is_service


def is_org_admin_of(principal: Principal, organization_id: uuid.UUID) -> bool:
    """An org_admin acting for exactly that organization."""
    return principal.org_id == organization_id and principal.has_role(Role.ORG_ADMIN) and not principal.is_service


def reads_whole_directory(principal: Principal) -> bool:
    """A service client holding the directory scope: it sees every organization, as a platform admin does."""
    return principal.is_service and DIRECTORY_SCOPE in principal.scopes


def may_see(principal: Principal, *, status: str, path: str) -> bool:
    """Verified organizations are a public directory; others only for platform admins, directory readers and
    their own subtree."""
    if status == "verified" or is_platform_admin(principal) or reads_whole_directory(principal):
        return True
    return principal.org_path is not None and path.startswith(principal.org_path)
