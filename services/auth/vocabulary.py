"""The words of the auth service: organization kinds, statuses and roles, and which roles fit which kinds."""

from __future__ import annotations

import enum

__all__ = ["ROLE_KINDS", "TIER_PARENT_KINDS", "DesignationLevel", "OrgEvent", "OrgKind", "OrgStatus", "Role"]


class OrgKind(enum.StrEnum):
    """What an organization is; decides its place in the 1+4+N tree and the roles its members may hold."""

    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research_institute"
    ENTERPRISE = "enterprise"
    TRANSFER_INSTITUTION = "transfer_institution"
    SUB_CENTER = "sub_center"
    CENTER = "center"
    REGISTRATION_OFFICE = "registration_office"
    GOVERNMENT = "government"


class OrgStatus(enum.StrEnum):
    """Verification state: pending until a platform admin or the tier parent decides; a verified organization
    may be suspended (its members' tokens then say org_verified=false) and reinstated."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class OrgEvent(enum.StrEnum):
    """Event types of the organization feed (auth_outbox → market's directory), one per change."""

    CREATED = "organization.created"
    VERIFIED = "organization.verified"
    REJECTED = "organization.rejected"
    UPDATED = "organization.updated"
    SUSPENDED = "organization.suspended"
    REINSTATED = "organization.reinstated"
    DESIGNATED = "organization.designated"
    DESIGNATION_REVOKED = "organization.designation_revoked"
    BROKERS_CHANGED = "organization.brokers_changed"


class DesignationLevel(enum.StrEnum):
    """The level of a demonstration institution (技术转移示范机构)."""

    NATIONAL = "national"
    PROVINCIAL = "provincial"


class Role(enum.StrEnum):
    """Roles a user holds in one organization (per membership)."""

    ORG_ADMIN = "org_admin"
    MEMBER = "member"
    BROKER = "broker"
    REGISTRAR = "registrar"
    STATISTICIAN = "statistician"
    PLATFORM_ADMIN = "platform_admin"


# The kind a tier parent must have, per kind; kinds absent here have no tier parent.
TIER_PARENT_KINDS: dict[OrgKind, frozenset[OrgKind]] = {
    OrgKind.SUB_CENTER: frozenset({OrgKind.CENTER}),
    OrgKind.TRANSFER_INSTITUTION: frozenset({OrgKind.SUB_CENTER, OrgKind.CENTER}),
}

# Roles limited to some kinds of organization; roles absent here fit every kind.
ROLE_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.BROKER: frozenset({OrgKind.TRANSFER_INSTITUTION, OrgKind.SUB_CENTER, OrgKind.CENTER}),
    Role.REGISTRAR: frozenset({OrgKind.REGISTRATION_OFFICE}),
    Role.PLATFORM_ADMIN: frozenset({OrgKind.CENTER}),
}
