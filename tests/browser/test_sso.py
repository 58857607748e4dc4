"""Single sign-on in the browser: a real OpenID Connect provider process (tests/support/oidc_provider), its login
page, and back to the portal signed in, for each case of the takeover rule (docs/sso.md) and for staff with TOTP.

The provider is configured on the stack's portal with `manage.py sso_provider`, as a deployment would, and removed
when the module ends so the other browser tests meet the login page they expect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import Steps
from tests.support.browser_accounts import sign_up_and_verify
from tests.support.browser_stack import BrowserStack, totp_code
from tests.support.oidc_server import PASSWORD, OidcProvider
from tests.support.portal_process import manage

ORGANISATION = "Acme Corp"
STAFF_TOTP_SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"

MAKE_ORGANISATION = """
from portal.models import Organisation
print(Organisation.objects.get_or_create(name=NAME)[0].pk)
"""
FORGET_PROVIDER = """
from allauth.socialaccount.models import SocialApp
SocialApp.objects.filter(provider_id="corp").delete()
"""
ROLE_OF = """
from portal.models import Membership
print(",".join(Membership.objects.filter(user__email=EMAIL, organisation__name=NAME).values_list("role", flat=True)))
"""
ACCOUNTS_OF = """
from django.contrib.auth import get_user_model
from allauth.socialaccount.models import SocialAccount
print(get_user_model().objects.filter(email=EMAIL).count(), SocialAccount.objects.filter(user__email=EMAIL).count())
"""
MAKE_STAFF = """
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
user = get_user_model().objects.create_user(username=EMAIL, email=EMAIL, password=None, is_staff=True)
EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": SECRET})
"""


def _printed(stack: BrowserStack, code: str, **values: object) -> str:
    """The last line the code printed in the stack's Django shell (the shell first reports its automatic imports)."""
    return stack.shell(code, **values).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def provider(stack: BrowserStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The provider, trusted by the portal for acme.test, whose people join Acme Corp as admins."""
    oidc = OidcProvider(tmp_path_factory.mktemp("browser-oidc"))
    oidc.start(f"{stack.portal_url}/accounts/oidc/corp/login/callback/")
    organisation = _printed(stack, MAKE_ORGANISATION, NAME=ORGANISATION)
    manage(
        "sso_provider", "--id", "corp", "--name", "Corp SSO", "--issuer", oidc.issuer, "--client-id", oidc.client_id,
        "--secret-stdin", "--allow-domain", "acme.test", "--member", f"acme.test:{organisation}:admin",
        env=stack.env, stdin=oidc.client_secret + "\n",
    )  # fmt: skip
    try:
        yield oidc
    finally:
        stack.shell(FORGET_PROVIDER)
        oidc.stop()


def _person(provider: OidcProvider, domain: str = "acme.test") -> tuple[str, str]:
    username = "p" + uuid.uuid4().hex[:10]
    provider.add_user(username, f"{username}@{domain}")
    return username, f"{username}@{domain}"


def _through_the_provider(page: Page, steps: Steps, username: str) -> None:
    """From the portal's login page: the SSO button, the provider's own login form, and back."""
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="or use single sign-on")).to_be_visible()
    steps.check("login-with-sso-button")
    page.get_by_role("button", name="Log in with Corp SSO").click()
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    steps.check("provider-login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_person_at_an_allowed_domain_signs_in_and_joins_the_organisation_with_its_role(
    stack: BrowserStack, provider: OidcProvider, page: Page, steps: Steps
) -> None:
    username, email = _person(provider)
    _through_the_provider(page, steps, username)
    expect(page.get_by_role("link", name="Applications", exact=True)).to_be_visible()
    steps.check("signed-in")
    page.goto("/orgs/")
    row = page.get_by_role("row").filter(has_text=ORGANISATION)
    expect(row).to_contain_text("admin")
    steps.check("member-of-acme")
    assert _printed(stack, ROLE_OF, EMAIL=email, NAME=ORGANISATION) == "admin"


def test_a_domain_the_provider_is_not_trusted_for_is_refused_with_a_clear_message(
    stack: BrowserStack, provider: OidcProvider, page: Page, steps: Steps
) -> None:
    username, email = _person(provider, domain="elsewhere.test")
    _through_the_provider(page, steps, username)
    expect(page.get_by_text("Addresses at elsewhere.test cannot sign in with Corp SSO")).to_be_visible()
    expect(page.get_by_role("heading", name="Log in to Portico")).to_be_visible()
    steps.check("refused")
    assert _printed(stack, ACCOUNTS_OF, EMAIL=email).split() == ["0", "0"]


def test_an_existing_confirmed_account_with_the_same_address_is_the_one_signed_in(
    stack: BrowserStack, provider: OidcProvider, page: Page, steps: Steps
) -> None:
    username, email = _person(provider)
    sign_up_and_verify(page, steps, stack, email)  # a local account first, its address confirmed by email
    page.context.clear_cookies()
    _through_the_provider(page, steps, username)
    expect(page.get_by_role("link", name="Applications", exact=True)).to_be_visible()
    steps.check("signed-in-to-the-existing-account")
    assert _printed(stack, ACCOUNTS_OF, EMAIL=email).split() == ["1", "1"]


def test_staff_signing_in_by_sso_still_give_their_authenticator_code(
    stack: BrowserStack, provider: OidcProvider, page: Page, steps: Steps
) -> None:
    username, email = _person(provider)
    stack.shell(MAKE_STAFF, EMAIL=email, SECRET=STAFF_TOTP_SECRET)
    _through_the_provider(page, steps, username)
    expect(page.get_by_label("Code")).to_be_visible()  # the provider's sign-in is the first factor only
    steps.check("asks-for-the-code")
    page.get_by_label("Code").fill(totp_code(STAFF_TOTP_SECRET))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Applications", exact=True)).to_be_visible()
    steps.check("signed-in-after-the-code")
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Platform")).to_be_visible()  # this session gave its second factor
