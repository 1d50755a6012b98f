"""Send messages to an address: signup's outcome goes to the owner of the email, never to the caller.

POST /auth/signup answers the same 202 whether the email is new or taken (the answer must not tell a stranger
which addresses have accounts); the person who owns the address learns the outcome from one of these messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.messages.models import OutboundMessage
from services.auth.messages.repository import MessageRepository
from services.auth.organizations.models import Organization
from services.auth.users.models import User

__all__ = ["SIGNUP_CREATED", "SIGNUP_EMAIL_TAKEN", "messages_to", "send", "signup_created", "signup_email_taken"]

SIGNUP_CREATED = "signup.created"
SIGNUP_EMAIL_TAKEN = "signup.email_taken"


async def send(*, session: AsyncSession, to: str, kind: str, subject: str, body: str) -> OutboundMessage:
    """Record a message to ``to`` in the caller's transaction (it is sent only if the transaction commits)."""
    message = OutboundMessage(to=to.lower(), kind=kind, subject=subject, body=body)
    await MessageRepository(session).add(message)
    return message


async def signup_created(*, session: AsyncSession, user: User, organization: Organization) -> OutboundMessage:
    """Your account was created: confirm it was you, and what happens next."""
    return await send(
        session=session,
        to=user.email,
        kind=SIGNUP_CREATED,
        subject="Your techmarket account was created",
        body=(
            f"An account for {user.email} was created together with the organization {organization.name} "
            f"(credit code {organization.credit_code}), which is pending verification.\n"
            f"User id: {user.id}\nOrganization id: {organization.id}\n\n"
            "Confirm it was you by signing in with the password you chose (POST /auth/token). "
            "If you did not sign up, tell the platform administrators; nobody can act for the organization until "
            "it is verified."
        ),
    )


async def signup_email_taken(*, session: AsyncSession, to: str) -> OutboundMessage:
    """Someone tried to sign up with your address: nothing changed; if it was you, sign in or reset."""
    return await send(
        session=session,
        to=to,
        kind=SIGNUP_EMAIL_TAKEN,
        subject="Someone tried to sign up with your address",
        body=(
            f"Someone tried to sign up a new organization on techmarket with {to}, which already has an account. "
            "Nothing was created and your account is unchanged.\n\n"
            "If it was you, sign in with your existing password, or ask your organization's administrator (or a "
            "platform administrator) to reset it. If it was not you, you need not do anything."
        ),
    )


async def messages_to(*, session: AsyncSession, to: str) -> Sequence[OutboundMessage]:
    """The messages sent to an address, oldest first."""
    return await MessageRepository(session).to_address(to.strip().lower())
