"""First calls with a new key, as a developer pastes them: curl, Python (httpx) and JavaScript (fetch).

Each snippet carries the key itself, so it works as pasted; they are rendered only on the reveal-once page.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from portal.models import Api


@dataclass(frozen=True)
class FirstCall:
    """One API's first request, written three ways."""

    api: Api
    url: str
    curl: str
    python: str
    javascript: str

    @property
    def languages(self) -> list[tuple[str, str, str]]:
        """(id, label, code) in the order the page shows them."""
        return [
            ("curl", "curl", self.curl),
            ("python", "Python (httpx)", self.python),
            ("js", "JavaScript", self.javascript),
        ]


def first_calls(*, apis: list[Api], gateway_url: str, secret: str) -> list[FirstCall]:
    """A ready-to-run request per API the key may call, through the public gateway address."""
    return [_first_call(api, f"{gateway_url}{api.first_request_path()}", secret) for api in apis]


def _first_call(api: Api, url: str, secret: str) -> FirstCall:
    header = f"{api.key_header}: {secret}"
    # json.dumps writes string literals that Python and JavaScript both read as written.
    url_literal, name, value = json.dumps(url), json.dumps(api.key_header), json.dumps(secret)
    return FirstCall(
        api=api,
        url=url,
        curl=f"curl -H {shlex.quote(header)} {shlex.quote(url)}",
        python=(
            "import httpx\n\n"
            f"response = httpx.get({url_literal}, headers={{{name}: {value}}})\n"
            "print(response.status_code, response.text)"
        ),
        javascript=(
            f"fetch({url_literal}, {{ headers: {{ {name}: {value} }} }})\n"
            "  .then((response) => response.text().then((body) => console.log(response.status, body)));"
        ),
    )


def token_request_curl(*, token_url: str, client_id: str, secret: str, scopes: list[str]) -> str:
    """The client-credentials request for a new OAuth client, ready to paste (RFC 6749 §4.4, Basic auth)."""
    scope = f" -d {shlex.quote('scope=' + ' '.join(scopes))}" if scopes else ""
    return (
        f"curl -u {shlex.quote(client_id + ':' + secret)} -d grant_type=client_credentials{scope} "
        f"{shlex.quote(token_url)}"
    )
