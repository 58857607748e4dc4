"""What each problem type means and what to do about it: the pages a problem+json `type` leads a developer to.

Gateway causes mirror gateway/lua/portico/problem.lua (a test keeps the two in step); the REST API's causes
mirror foundation.errors.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProblemPage:
    slug: str
    status: int
    title: str
    meaning: str
    remedy: str
    where: str  # "gateway" (calls to an API) or "platform" (the portal's REST API)


def _page(slug: str, status: int, title: str, meaning: str, remedy: str, where: str = "gateway") -> ProblemPage:
    return ProblemPage(slug, status, title, meaning, remedy, where)


PROBLEM_PAGES: dict[str, ProblemPage] = {
    page.slug: page
    for page in [
        _page(
            "missing-key", 401, "API key missing",
            "The request carried no API key.",
            "Send your key in the API's key header (shown on the API's page, e.g. X-API-Key) or as "
            "Authorization: Bearer <key>.",
        ),
        _page(
            "invalid-key", 401, "API key invalid",
            "The key is malformed, unknown or revoked. The answer is the same in each case, so that nobody can "
            "probe which keys exist.",
            "Check that you pasted the whole key. If it was revoked or lost, create a new key on your "
            "application's page.",
        ),
        _page(
            "expired-key", 401, "API key expired",
            "The key passed its expiry time, or the grace period after a rotation ended.",
            "Use the key that replaced it, or create a new one.",
        ),
        _page(
            "token-invalid", 401, "Access token invalid",
            "The access token is malformed, was not signed by this platform (or with a key it no longer "
            "publishes), is not valid yet, or was issued for another audience.",
            "Request a new token from the token endpoint with your client credentials and send it as "
            "Authorization: Bearer <token>.",
        ),
        _page(
            "token-expired", 401, "Access token expired",
            "Access tokens are short-lived; this one passed its expiry time (its exp claim).",
            "Request a new token with your client credentials; renew tokens shortly before they expire.",
        ),
        _page(
            "token-revoked", 401, "Access token revoked",
            "The token, or the OAuth client it was issued to, was revoked.",
            "If the client still exists, request a new token; otherwise create new client credentials on your "
            "application's page.",
        ),
        _page(
            "token-scope", 403, "Token not allowed for this API",
            "The token's scope does not name this API: it was requested for other APIs, or the application "
            "was not subscribed to this one when the token was issued.",
            "Request a token whose scope includes this API (subscribe the application to it first).",
        ),
        _page(
            "certificate-required", 401, "Client certificate required",
            "This API requires mutual TLS: the TLS handshake carried no client certificate.",
            "Register a certificate on your application's page and configure your client to present it with its "
            "private key (docs: mTLS).",
        ),
        _page(
            "certificate-unknown", 401, "Client certificate unknown",
            "The certificate your client presented is not registered to any application.",
            "Register it on your application's page (its SHA-256 fingerprint is shown there), or present the one "
            "you registered.",
        ),
        _page(
            "certificate-revoked", 401, "Client certificate revoked",
            "The certificate was revoked on its application's page.",
            "Register a new certificate and present it instead.",
        ),
        _page(
            "certificate-expired", 401, "Client certificate expired",
            "The certificate is outside its validity dates (expired, or not valid yet).",
            "Issue a new certificate, register it, and present it instead.",
        ),
        _page(
            "certificate-untrusted", 401, "Client certificate not from the API's CA",
            "This API accepts only client certificates issued by its own certificate authority, and this one "
            "was not.",
            "Ask the API's team for a certificate from their CA, then register that one.",
        ),
        _page(
            "certificate-mismatch", 401, "Client certificate does not match the credential",
            "The client certificate and the API key or access token belong to different applications.",
            "Present the certificate registered to the same application as the key or token.",
        ),
        _page(
            "forbidden-api", 403, "Key not allowed for this API",
            "The key's application has no active subscription to this API, the subscription waits for approval, "
            "or the key is scoped to other APIs.",
            "Subscribe the application to the API (or wait for the approval email), or edit the key's scopes.",
        ),
        _page(
            "test-key-no-sandbox", 403, "Test keys not accepted by this API",
            "The request used a test key (ptc_test_…), and this API has no sandbox upstream to send test traffic "
            "to, so it only accepts live keys.",
            "Use a live key of the application, or ask the API's owner for a sandbox.",
        ),
        _page(
            "forbidden-ip", 403, "Client address not allowed",
            "The key only works from the IP ranges set on it, and this request came from elsewhere.",
            "Call from an allowed address, or add this one to the key's IP ranges.",
        ),
        _page(
            "method-not-allowed", 405, "Method not allowed",
            "The API does not accept this HTTP method.",
            "See the methods listed on the API's page.",
        ),
        _page(
            "body-too-large", 413, "Request body too large",
            "The request body is larger than the API accepts.",
            "Send a smaller body, or split the request.",
        ),
        _page(
            "rate-limited", 429, "Rate limit exceeded",
            "More requests arrived in the last second or minute than your plan allows.",
            "Wait the number of seconds in the Retry-After header, and pace requests by the RateLimit headers. "
            "A higher plan allows more.",
        ),
        _page(
            "too-many-invalid-keys", 429, "Too many invalid keys",
            "Your address sent many requests with invalid keys, which looks like guessing, so it is paused.",
            "Fix the key your client sends, then retry after the Retry-After delay.",
        ),
        _page(
            "quota-exceeded", 429, "Quota exhausted",
            "The subscription used its daily or monthly quota; requests are refused until the quota resets.",
            "Wait for the reset time given in the answer and on your usage page, or move to a plan with a larger "
            "quota.",
        ),
        _page(
            "limiter-unavailable", 503, "Rate limiter unavailable",
            "The shared store that counts requests across gateways is unreachable, and this plan refuses traffic "
            "it cannot count.",
            "Retry shortly; the operators are told.",
        ),
        _page(
            "no-route", 404, "No API at this path",
            "No published API starts with this path.",
            "Check the base URL on the API's page.",
        ),
        _page(
            "not-ready", 503, "Gateway not ready",
            "The gateway has not received its configuration yet.",
            "Retry shortly.",
        ),
        _page(
            "bad-gateway", 502, "Upstream unavailable",
            "The gateway could not reach the API's servers.",
            "Retry later; the API team's servers are down or unreachable.",
        ),
        _page(
            "gateway-timeout", 504, "Upstream timeout",
            "The API's servers did not answer in time.",
            "Retry later, or ask for less data per request.",
        ),
        _page(
            "bad-request", 400, "Bad request",
            "The gateway could not process the request (for example a malformed header).",
            "Check the request's headers and encoding.",
        ),
        _page(
            "request-invalid", 400, "Request does not match the API description",
            "The API validates requests against its OpenAPI description at the gateway, and a path, query or header "
            "parameter or the JSON body breaks it. The answer's `pointer` names the field (for example "
            "`/query/limit` or `/body/items/3/name`) and `rule` the constraint (`type`, `maximum`, `required`...); "
            "the value itself is never repeated.",
            "Compare the named field with the API's reference on its page and send a value it allows.",
        ),
        _page(
            "attack-signature", 403, "Request matches an attack signature",
            "The API has the gateway look for generic attack patterns (SQL injection, path traversal, script "
            "injection) in the path, the query and the body, and part of the request matches one. The answer's "
            "`signature` names the pattern (`sql-injection`, `path-traversal`, `script-injection`) and `pointer` "
            "where it matched (`/path`, `/query/q`, `/body`); the value itself is never repeated.",
            "If the request is legitimate (a search for a phrase that looks like SQL, for example), send the value "
            "in another field or encoding the API accepts, or ask the API team: they can turn enforcement into "
            "report mode while they look at it.",
        ),
        _page(
            "unknown-operation", 404, "No such operation",
            "The API validates requests against its OpenAPI description, which has no operation at this path.",
            "Check the path against the API's reference on its page.",
        ),
        _page(
            "admin-unauthorized", 401, "Signature required",
            "A request to a gateway's admin listener lacked a valid, fresh signature. Only the platform sends these.",
            "Nothing to do as an API consumer; operators check the gateway's push secret and clock.",
        ),
        _page(
            "admin-not-found", 404, "Not found",
            "An unknown path on a gateway's admin listener.",
            "Nothing to do as an API consumer.",
        ),
        _page(
            "validation-failed", 400, "Invalid input",
            "The request body or query had fields the REST API refused; `errors` lists each one.",
            "Correct the fields named in `errors` and send the request again.", "platform",
        ),
        _page(
            "not-found", 404, "Not found",
            "No such object in your organisations (objects of other organisations answer the same).",
            "Check the id, and that you use credentials of a member of the right organisation.", "platform",
        ),
        _page(
            "permission-denied", 403, "Permission denied",
            "Your role in this organisation does not allow the action.",
            "Ask an owner or admin of the organisation.", "platform",
        ),
        _page(
            "conflict", 409, "Conflict",
            "The request clashes with the current state, e.g. the object has ended or already exists.",
            "Reload the object and decide again.", "platform",
        ),
        _page(
            "limit-reached", 409, "Limit reached",
            "A per-organisation or per-application limit is reached (e.g. active keys per application).",
            "Revoke what you no longer use, then try again.", "platform",
        ),
    ]
}  # fmt: skip
