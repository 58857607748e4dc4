"""Single sign-on decisions and writes: who an SSO sign-in may be, what it joins, how its client secret is kept.

The takeover rule (docs/sso.md): an external identity counts only with an address the provider says it verified,
at a domain the admins trust that provider for; it signs in to an existing local account only when that
account's own address was confirmed too, and the policy allows linking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from foundation.audit import audit_record
from foundation.errors import ApplicationError
from foundation.limits import owner_lock, user_lock
from gateway_sync.secrets import decrypt, encrypt
from portal.models import Membership
from sso.models import SsoPolicy

PROVIDER = "openid_connect"
# Marks a client secret stored encrypted in SocialApp.secret (allauth's column, 191 characters).
SEALED_PREFIX = "fernet:"
# The longest client secret whose Fernet token, with the prefix, fits allauth's column.
MAX_SECRET_BYTES = 79


class SsoRefused(ApplicationError):
    """An SSO sign-in that the provider's policy does not allow; the message is shown to the person."""


@dataclass(frozen=True)
class SsoDecision:
    """What to do with a verified external identity: sign in as `user` (None: a new account), linking if asked."""

    email: str
    user: Any = None
    link: bool = False


def secret_seal(plaintext: str) -> str:
    """The stored form of a client secret: encrypted with the platform's secrets key (gateway_sync.secrets)."""
    if not plaintext:
        return ""
    if len(plaintext.encode()) > MAX_SECRET_BYTES:
        raise SsoRefused(f"Client secrets up to {MAX_SECRET_BYTES} bytes can be stored encrypted.")
    return SEALED_PREFIX + encrypt(plaintext)


def secret_open(stored: str) -> str:
    """The client secret to send to the provider; a secret stored before encryption is used as it is."""
    if stored.startswith(SEALED_PREFIX):
        return decrypt(stored.removeprefix(SEALED_PREFIX))
    return stored


def email_verified_claim(claims: dict[str, Any]) -> bool:
    """Only an explicit true counts (some providers send the string "true"); absent, "false" or 1 do not."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def sso_decide(*, policy: SsoPolicy | None, email: str, email_verified: bool, linked_user: Any = None) -> SsoDecision:
    """Apply the takeover rule to one sign-in; raises SsoRefused with a message for the person."""
    name = policy.app.name if policy is not None else "this provider"
    if policy is None:
        raise SsoRefused(f"Sign-in with {name} is not set up yet. Ask the Portico administrators.")
    if not email or not email_verified:
        raise SsoRefused(f"{name} did not confirm your email address, so Portico cannot sign you in with it.")
    if not policy.allows(email):
        domain = email.rpartition("@")[2]
        raise SsoRefused(f"Addresses at {domain} cannot sign in with {name}. Log in with your email and password.")
    if linked_user is not None:
        return SsoDecision(email=email, user=linked_user)
    local = _local_account(email)
    if local is None:
        return SsoDecision(email=email)
    user, confirmed = local
    if not policy.link_existing_accounts:
        raise SsoRefused(
            f"An account with this address already exists. Log in with your password, then connect {name} "
            "from your account's Single sign-on page."
        )
    if not confirmed:
        raise SsoRefused(
            "An account with this address exists but its address was never confirmed. Confirm it from the email "
            f"we sent, or reset its password, then log in with {name}."
        )
    return SsoDecision(email=email, user=user, link=True)


def _local_account(email: str) -> tuple[Any, bool] | None:
    """The local account holding this address and whether the address was confirmed there."""
    address = EmailAddress.objects.filter(email__iexact=email).select_related("user").order_by("-verified").first()
    if address is not None:
        return address.user, address.verified
    user = get_user_model().objects.filter(email__iexact=email).first()
    return (user, False) if user is not None else None


def sso_policy_for(provider_id: str) -> SsoPolicy | None:
    """The Portico policy of the provider with this allauth provider id, if admins made one."""
    return SsoPolicy.objects.select_related("app").filter(app__provider=PROVIDER, app__provider_id=provider_id).first()


@transaction.atomic
def sso_memberships_apply(*, user: Any, policy: SsoPolicy, email: str) -> list[Membership]:
    """Join the organisations the policy's rules give this address's domain; existing roles are left alone."""
    domain = email.rpartition("@")[2].lower()
    joined = []
    rules = policy.membership_rules.select_related("organisation").filter(domain=domain)
    for rule in rules:
        # Locked before the check: two sign-ins of one person at once must not both find them missing.
        user_lock(user)
        owner_lock(rule.organisation)
        if Membership.objects.filter(organisation=rule.organisation, user=user).exists():
            continue
        if (
            Membership.objects.filter(user=user).count() >= settings.PORTICO_MAX_ORGANISATIONS_PER_USER
            or rule.organisation.memberships.count() >= settings.PORTICO_MAX_MEMBERS_PER_ORGANISATION
        ):
            audit_record(
                action="sso.membership_skipped",
                actor=user,
                organisation=rule.organisation,
                data={"provider": policy.app.provider_id, "reason": "limit"},
            )
            continue
        membership = Membership.objects.create(organisation=rule.organisation, user=user, role=rule.role)
        audit_record(
            action="member.joined",
            actor=user,
            organisation=rule.organisation,
            target=membership,
            data={"role": membership.role, "via": "sso", "provider": policy.app.provider_id},
        )
        joined.append(membership)
    return joined


def sso_login_completed(*, user: Any, provider_id: str, uid: str, email: str) -> list[Membership]:
    """A sign-in by SSO finished (second factor included): record it and apply the membership rules."""
    audit_record(action="sso.login", actor=user, data={"provider": provider_id, "uid": uid[:255]})
    policy = sso_policy_for(provider_id)
    if policy is None or not email:
        return []
    return sso_memberships_apply(user=user, policy=policy, email=email)


def sso_refusal_record(*, provider_id: str, email: str, reason: str) -> None:
    """A refused SSO sign-in, for the audit trail (who claimed which address through which provider)."""
    audit_record(action="sso.refused", actor_label=email[:254], data={"provider": provider_id, "reason": reason[:300]})


def sso_app_store(*, app: SocialApp, server_url: str, secret: str) -> SocialApp:
    """Save a provider's protocol side (from the admin): issuer URL, PKCE on, the client secret encrypted."""
    app.provider = PROVIDER
    if secret:
        app.secret = secret_seal(secret)
    app.settings = {**(app.settings or {}), "server_url": server_url.rstrip("/"), "oauth_pkce_enabled": True}
    app.save()
    return app


@transaction.atomic
def sso_provider_save(
    *,
    provider_id: str,
    name: str,
    server_url: str,
    client_id: str,
    secret: str,
    allowed_domains: list[str],
    link_existing_accounts: bool = True,
    actor: Any = None,
) -> SsoPolicy:
    """Create or update one OpenID Connect provider and its policy; the client secret is stored encrypted."""
    app, created = SocialApp.objects.get_or_create(provider=PROVIDER, provider_id=provider_id, defaults={"name": name})
    app.name = name
    app.client_id = client_id
    sso_app_store(app=app, server_url=server_url, secret=secret)
    policy, _ = SsoPolicy.objects.get_or_create(app=app, defaults={"allowed_domains": ""})
    policy.allowed_domains = "\n".join(allowed_domains)
    policy.link_existing_accounts = link_existing_accounts
    policy.full_clean()
    policy.save()
    audit_record(
        action="sso.provider_added" if created else "sso.provider_changed",
        actor=actor,
        target=app,
        data={"provider": provider_id, "server_url": app.settings["server_url"], "domains": policy.domains()},
    )
    return policy


@transaction.atomic
def sso_membership_rule_save(*, policy: SsoPolicy, domain: str, organisation: Any, role: str) -> None:
    """Add (or change the role of) the rule that makes people at `domain` join `organisation`."""
    rule = policy.membership_rules.filter(domain=domain, organisation=organisation).first()
    rule = rule or policy.membership_rules.model(policy=policy, domain=domain, organisation=organisation)
    rule.role = role
    rule.full_clean()
    rule.save()
    audit_record(
        action="sso.membership_rule_saved",
        organisation=organisation,
        target=policy.app,
        data={"provider": policy.app.provider_id, "domain": rule.domain, "role": role},
    )
