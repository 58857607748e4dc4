"""Access-log records are hostile input: what ingest refuses, what it repairs, and the ids it trusts.

A record is refused when it is not an object, its time is not a number, too old or infinite, or its status is not
an integer 100-599. Times are moved to the platform's clock by the gateway's measured offset; a time still more than
FUTURE_SLACK_SECONDS ahead of the platform's (the gateway's clock jumped back after logging it) becomes the time of
ingest, repaired, so the request is counted rather than lost with its batch marked as ingested. Otherwise bad
fields are repaired and the record is marked repaired (ingest counts it as sanitised): ids that are not positive
integers or do not exist become null (the organisation is taken from the application, a subscription must be the
application's on that API, a key prefix is only attributed to a key of that application); negative or absurd byte
counts become 0 and latencies null; a denial cause must be one of the gateway's problem types (else ""); strings
are capped to their column and lose control characters and unencodable surrogates; client addresses must parse.

Form is checked per record (`records_check`); ids are checked against the database once per page, for each
distinct identity (`identities_lookup`, `identity_resolve`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from keys.models import ApiKey, OAuthClient
from keys.services.clients import CLIENT_ID_PREFIX
from portal.models import Api, Application, Plan, Subscription

MAX_ID = 2**63 - 1
MAX_BYTES = 2**40  # a terabyte in one request is a bug or a lie
MAX_SECONDS = 86_400.0  # no request takes a day
MAX_RECORDS_PER_BATCH = 100_000
FUTURE_SLACK_SECONDS = 300  # after correcting a gateway's clock offset, its events may be a little ahead, not more
_INFINITY = float("inf")
LIMIT_OUTCOMES = frozenset({"ok", "rate", "quota", "blocked", ""})
# The problem types of answers a gateway makes itself (gateway/lua/portico/problem.lua, "dc" in its access log):
# the request log's denial cause. Anything else is repaired to "" (no cause).
DENIAL_CAUSES: tuple[str, ...] = (
    "missing-key",
    "invalid-key",
    "expired-key",
    "token-invalid",
    "token-expired",
    "token-revoked",
    "token-scope",
    "certificate-required",
    "certificate-unknown",
    "certificate-revoked",
    "certificate-expired",
    "certificate-untrusted",
    "certificate-mismatch",
    "forbidden-api",
    "test-key-no-sandbox",
    "forbidden-ip",
    "method-not-allowed",
    "body-too-large",
    "rate-limited",
    "too-many-invalid-keys",
    "limiter-unavailable",
    "quota-exceeded",
    "no-route",
    "not-ready",
    "bad-gateway",
    "gateway-timeout",
    "bad-request",
    "request-invalid",
    "unknown-operation",
    "attack-signature",
)
_CAUSES = frozenset(DENIAL_CAUSES) | {""}

# Field caps match RequestEvent's columns.
_CAP_ID, _CAP_METHOD, _CAP_PATH, _CAP_KEY = 64, 16, 512, 20
_CAP_ADDRESS = 45  # the longest textual IPv6 address (with an embedded IPv4 one)
# C0 and C1 control characters (and DEL) are dropped from every string; NUL would even break PostgreSQL text.
_CONTROL = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])

# An identity is what a record says about who called what: (api, application, organisation, subscription, plan,
# key prefix), each already validated in form. A page has few of them, so they are checked against the database
# and resolved once each, not once per record.
Identity = tuple[int | None, int | None, int | None, int | None, int | None, str]

# A record that passed the checks, with its repaired fields, as one tuple (this runs for every event, so no object):
# (position in its batch, time (epoch seconds), status, latency (s), upstream latency (s), bytes in, bytes out,
#  request id, method, path, client address, limit outcome, denial cause, identity)
Checked = tuple[int, float, int, float | None, float | None, int, int, str, str, str, str | None, str, str, Identity]


@dataclass
class CheckedBatch:
    """One batch's records after the checks."""

    records: list[Checked]  # the usable ones, repaired
    refused: int
    repaired: int  # usable records with a field repaired
    clean: dict[Identity, int]  # usable records with nothing repaired, by identity (its ids are checked later)
    # (identity, time, "vf") of records carrying a report-mode validation finding (protection/services/findings.py)
    findings: list[tuple[Identity, float, Any]] | None = None


def _text(value: Any, cap: int) -> tuple[str, bool]:
    """A capped string without control characters, and whether it had to change."""
    if type(value) is not str:
        return "", value is not None
    changed = False
    if len(value) > cap:
        value, changed = value[:cap], True
    if not value.isprintable():
        cleaned = value.translate(_CONTROL)
        value, changed = cleaned, changed or cleaned != value
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes cannot be stored as UTF-8
            value, changed = value.encode("utf-8", "replace").decode(), True
    return value, changed


def _address(value: str) -> tuple[str | None, bool]:
    """A client address in canonical form, or None (and repaired) when it is not an IP address."""
    if value == "":
        return None, False
    if len(value) > _CAP_ADDRESS:
        return None, True
    try:
        return str(ipaddress.ip_address(value)), False
    except ValueError:
        return None, True


# Validated addresses by their text: a pure function of the string, so the cache may outlive a page.
_ADDRESSES: dict[str, tuple[str | None, bool]] = {}
_ADDRESSES_MAX = 50_000


def records_check(records: Any, *, lo: float, now: float, shift: float = 0.0) -> CheckedBatch:
    """One batch's records checked as hostile input and repaired; times, less `shift`, from `lo` to a little past `now`.

    `shift` is the gateway's clock minus ours; a time further ahead becomes `now` (repaired). This loop runs for
    every event, so the common case (well-formed, printable, in range) is checked inline and only odd values go
    through the helpers.
    """
    lo, hi = lo + shift, now + FUTURE_SLACK_SECONDS + shift  # the window in the gateway's time
    checked: list[Checked] = []
    clean: dict[Identity, int] = {}
    if not isinstance(records, list):
        return CheckedBatch(checked, refused=1, repaired=0, clean=clean)  # the whole payload is one unusable record
    refused = repaired_records = 0
    if len(records) > MAX_RECORDS_PER_BATCH:
        refused = len(records) - MAX_RECORDS_PER_BATCH
        records = records[:MAX_RECORDS_PER_BATCH]
    keep = checked.append
    findings: list[tuple[Identity, float, Any]] = []
    addresses = _ADDRESSES
    for position, rec in enumerate(records):
        if type(rec) is not dict:
            refused += 1
            continue
        t, status = rec.get("t"), rec.get("s")
        repaired = False
        if not ((type(t) is float or type(t) is int) and lo <= t <= hi) or not (  # NaN and infinities fail too
            type(status) is int and 100 <= status <= 599
        ):
            ahead = (type(t) is float or type(t) is int) and hi < t < _INFINITY
            if not (ahead and type(status) is int and 100 <= status <= 599):
                refused += 1
                continue
            t, repaired = now + shift, True  # ahead of any clock we measured: counted when it arrived
        if shift:
            t -= shift
        rt = rec.get("rt")
        if rt is not None and not ((type(rt) is float or type(rt) is int) and 0 <= rt <= MAX_SECONDS):
            rt, repaired = None, True
        ut = rec.get("ut")
        if ut is not None and not ((type(ut) is float or type(ut) is int) and 0 <= ut <= MAX_SECONDS):
            ut, repaired = None, True
        bi = rec.get("bi")
        if not (type(bi) is int and 0 <= bi <= MAX_BYTES):
            bi, repaired = 0, True
        bo = rec.get("bo")
        if not (type(bo) is int and 0 <= bo <= MAX_BYTES):
            bo, repaired = 0, True
        # A printable string is also encodable (lone surrogates are not printable), so within its cap it is kept.
        request_id = rec.get("id")
        if not (type(request_id) is str and len(request_id) <= _CAP_ID and request_id.isprintable()):
            request_id, changed = _text(request_id, _CAP_ID)
            repaired = repaired or changed
        method = rec.get("m")
        if not (type(method) is str and len(method) <= _CAP_METHOD and method.isprintable()):
            method, changed = _text(method, _CAP_METHOD)
            repaired = repaired or changed
        path = rec.get("p")
        if not (type(path) is str and len(path) <= _CAP_PATH and path.isprintable()):
            path, changed = _text(path, _CAP_PATH)
            repaired = repaired or changed
        prefix = rec.get("key")
        if not prefix and "cl" in rec:
            # an access token's OAuth client: its id's first characters stand where a key's prefix does
            client = rec["cl"]
            prefix = client[:_CAP_KEY] if type(client) is str else client
        if not (type(prefix) is str and len(prefix) <= _CAP_KEY and prefix.isprintable()):
            prefix, changed = _text(prefix, _CAP_KEY)
            repaired = repaired or changed
        ip = rec.get("ip")
        if type(ip) is str:
            known = addresses.get(ip)
            if known is None:
                if len(addresses) >= _ADDRESSES_MAX:
                    addresses.clear()
                known = addresses[ip] = _address(ip)
            ip, changed = known
            repaired = repaired or changed
        elif ip is not None:
            ip, repaired = None, True
        lim = rec.get("lim")
        if type(lim) is str:
            if lim not in LIMIT_OUTCOMES:
                lim, repaired = "", True
        elif lim is None:
            lim = ""  # not logged: no outcome to tell, nothing repaired
        else:
            lim, repaired = "", True
        cause = rec.get("dc")
        if cause is None:
            cause = ""  # not logged (older gateways): no cause to tell, nothing repaired
        elif type(cause) is not str or cause not in _CAUSES:
            cause, repaired = "", True
        api = rec.get("api")
        if api is not None and not (type(api) is int and 0 < api <= MAX_ID):
            api, repaired = None, True
        app = rec.get("app")
        if app is not None and not (type(app) is int and 0 < app <= MAX_ID):
            app, repaired = None, True
        org = rec.get("org")
        if org is not None and not (type(org) is int and 0 < org <= MAX_ID):
            org, repaired = None, True
        sub = rec.get("sub")
        if sub is not None and not (type(sub) is int and 0 < sub <= MAX_ID):
            sub, repaired = None, True
        plan = rec.get("plan")
        if plan is not None and not (type(plan) is int and 0 < plan <= MAX_ID):
            plan, repaired = None, True
        identity = (api, app, org, sub, plan, prefix)
        keep((position, t, status, rt, ut, bi, bo, request_id, method, path, ip, lim, cause, identity))
        finding = rec.get("vf")  # rare (report mode found something): one dict lookup for all the others
        if finding:
            findings.append((identity, t, finding))
        if repaired:
            repaired_records += 1
        else:
            clean[identity] = clean.get(identity, 0) + 1
    return CheckedBatch(checked, refused=refused, repaired=repaired_records, clean=clean, findings=findings)


def _clients_lookup(prefixes: set[str], apps: dict[int, int]) -> dict[tuple[int, str], int | None]:
    """OAuth clients by (application, first characters of the client id): what a token's record carries as `key`."""
    wanted = {p for p in prefixes if p.startswith(CLIENT_ID_PREFIX)}
    clients: dict[tuple[int, str], int | None] = {}
    if wanted and apps:
        rows = OAuthClient.objects.filter(application_id__in=apps, client_id__startswith=CLIENT_ID_PREFIX)
        for client_pk, client_id, app_id in rows.values_list("id", "client_id", "application_id"):
            prefix = client_id[:_CAP_KEY]
            if prefix in wanted:
                clients[(app_id, prefix)] = None if (app_id, prefix) in clients else client_pk
    return clients


@dataclass
class Known:
    """Which of the ids a page mentions exist, and how they relate."""

    apps: dict[int, int]  # application -> organisation
    apis: set[int]
    plans: set[int]
    subs: dict[int, tuple[int, int]]  # subscription -> (application, api)
    keys: dict[tuple[int, str], int | None]  # (application, prefix) -> key (None when ambiguous)
    clients: dict[tuple[int, str], int | None]  # (application, client id's first characters) -> OAuth client


def identities_lookup(identities: Collection[Identity]) -> Known:
    """The ids these identities mention that exist, with their relations: five queries at most."""
    api_ids = {i[0] for i in identities if i[0] is not None}
    app_ids = {i[1] for i in identities if i[1] is not None}
    sub_ids = {i[3] for i in identities if i[3] is not None}
    plan_ids = {i[4] for i in identities if i[4] is not None}
    prefixes = {i[5] for i in identities if i[5] and i[1] is not None}
    apps = dict(Application.objects.filter(pk__in=app_ids).values_list("id", "organisation_id")) if app_ids else {}
    subs = Subscription.objects.filter(pk__in=sub_ids).values_list("id", "application_id", "api_id") if sub_ids else []
    keys: dict[tuple[int, str], int | None] = {}
    if prefixes and apps:
        for key_id, prefix, app_id in ApiKey.objects.filter(prefix__in=prefixes, application_id__in=apps).values_list(
            "id", "prefix", "application_id"
        ):
            # Prefixes are not unique in theory; an ambiguous one is attributed to no key rather than a wrong one.
            keys[(app_id, prefix)] = None if (app_id, prefix) in keys else key_id
    return Known(
        clients=_clients_lookup(prefixes, apps),
        apps=apps,
        apis=set(Api.objects.filter(pk__in=api_ids).values_list("id", flat=True)) if api_ids else set(),
        plans=set(Plan.objects.filter(pk__in=plan_ids).values_list("id", flat=True)) if plan_ids else set(),
        subs={sid: (app, api) for sid, app, api in subs},
        keys=keys,
    )


@dataclass
class Resolved:
    """An identity after the id checks: what is stored and counted for its records."""

    api: int | None
    app: int | None
    org: int | None
    sub: int | None
    plan: int | None
    key_id: int | None
    prefix: str
    repaired: bool  # an id was dropped or corrected
    client_id: int | None = None  # the OAuth client of an access token's request


def identity_resolve(identity: Identity, known: Known) -> Resolved:
    """Unknown ids are dropped, the organisation is the application's and a subscription must match both."""
    api, app, org, sub, plan, prefix = identity
    repaired = False
    if app is not None and app not in known.apps:
        app, repaired = None, True
    real_org = known.apps[app] if app is not None else None
    if org != real_org:
        org, repaired = real_org, True
    if api is not None and api not in known.apis:
        api, repaired = None, True
    if plan is not None and plan not in known.plans:
        plan, repaired = None, True
    if sub is not None and known.subs.get(sub) != (app, api):
        sub, repaired = None, True
    key_id = known.keys.get((app, prefix)) if app is not None and prefix else None
    client_id = known.clients.get((app, prefix)) if app is not None and prefix else None
    return Resolved(api, app, org, sub, plan, key_id, prefix, repaired, client_id)
