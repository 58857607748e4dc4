"""Portico's policy for each OpenID Connect provider admins configure (allauth's SocialApp holds the protocol side)."""

from __future__ import annotations

import re

from allauth.socialaccount.models import SocialApp
from django.core.exceptions import ValidationError
from django.db import models

from portal.models import Organisation, Role

# A host name label: letters, digits and inner hyphens (IDN domains are entered in their xn-- form).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_PATTERN = rf"{_LABEL}(\.{_LABEL})+"


def normalise_domain(value: str) -> str:
    """One email domain, lower case, without a leading "@" or a trailing dot."""
    return value.strip().lower().removeprefix("@").rstrip(".")


def parse_domains(text: str) -> list[str]:
    """The domains in a comma-, space- or line-separated list, normalised, without repeats."""
    found: list[str] = []
    for part in re.split(r"[\s,]+", text or ""):
        domain = normalise_domain(part)
        if not domain:
            continue
        if not re.fullmatch(DOMAIN_PATTERN, domain):
            raise ValidationError(f"{part!r} is not an email domain such as example.com.")
        if domain not in found:
            found.append(domain)
    return found


class SsoPolicy(models.Model):
    """Who may sign in with one provider: email domains the provider is trusted for, and whether it may sign
    in to an existing local account with the same address (docs/sso.md, "Linking to an existing account")."""

    app = models.OneToOneField(
        SocialApp, on_delete=models.CASCADE, related_name="portico_policy", verbose_name="provider"
    )
    allowed_domains = models.TextField(
        blank=True,
        help_text="Email domains this provider may sign in, one per line (example.com). Empty: nobody.",
    )
    link_existing_accounts = models.BooleanField(
        default=True,
        help_text="Sign an SSO user in to the existing account with the same confirmed email address.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SSO policy"
        verbose_name_plural = "SSO policies"

    def __str__(self) -> str:
        return f"Policy of {self.app.name}"

    def clean(self) -> None:
        self.allowed_domains = "\n".join(parse_domains(self.allowed_domains))

    def domains(self) -> list[str]:
        return parse_domains(self.allowed_domains)

    def allows(self, email: str) -> bool:
        """True when the address is at one of the allowed domains (exactly: a subdomain is another domain)."""
        return normalise_domain(email.rpartition("@")[2]) in self.domains()


class SsoMembershipRule(models.Model):
    """People whose confirmed address is at `domain` join `organisation` with `role` when they sign in by SSO."""

    policy = models.ForeignKey(SsoPolicy, on_delete=models.CASCADE, related_name="membership_rules")
    domain = models.CharField(max_length=253)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "domain", "organisation"], name="sso_rule_unique"),
        ]
        ordering = ["domain", "organisation_id"]
        verbose_name = "membership rule"

    def __str__(self) -> str:
        return f"@{self.domain} joins {self.organisation} as {self.role}"

    def clean(self) -> None:
        domains = parse_domains(self.domain)
        if len(domains) != 1:
            raise ValidationError({"domain": "One email domain, such as example.com."})
        self.domain = domains[0]
        if self.role == Role.OWNER:
            raise ValidationError({"role": "SSO makes members or admins; owners are chosen by people."})
        if self.policy_id and self.domain not in self.policy.domains():
            raise ValidationError({"domain": "Allow this domain in the policy first."})
