"""Pattern detectors and the masking rule, shared by every part of the platform that stores or shows request data.

The gateway has the same patterns in gateway/lua/portico/redact.lua (PCRE); tests/redaction/test_detectors.py
runs both on one table of cases. Every pattern is linear: bounded repeats over disjoint character classes and
fixed-width lookarounds, so no input makes them backtrack (docs/redaction.md, "Limits").

Masking rule (docs/redaction.md): a named field's value becomes ``[redacted]``; a payment card number keeps its last
four digits, every other digit becomes ``*`` and separators are dropped (``************1111``); a US SSN becomes
``[ssn]``, a UK National Insurance number ``[nino]`` and an email address ``[email]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

REDACTED = "[redacted]"
SSN_MASK, NINO_MASK, EMAIL_MASK = "[ssn]", "[nino]", "[email]"
CARD_KEEP = 4  # trailing digits a masked card number keeps

# 13 to 19 digits, single spaces or dashes between them allowed, not inside a longer digit run.
CARD_RE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
# AAA-GG-SSSS; area 000, 666 and 9xx, group 00 and serial 0000 are never issued (checked after the match).
SSN_RE = re.compile(r"(?<![0-9])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![0-9])")
# Two prefix letters (D, F, I, Q, U, V never; O never second), six digits (optionally spaced in pairs), suffix A-D.
NINO_RE = re.compile(
    r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z][A-CEGHJ-NPR-TW-Za-ceghj-npr-tw-z])"
    r" ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d](?![A-Za-z0-9])"
)
NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies (ISO/IEC 7812)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if position % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = match.group().replace(" ", "").replace("-", "")
    if not luhn_valid(digits):
        return match.group()
    return "*" * (len(digits) - CARD_KEEP) + digits[-CARD_KEEP:]


def _ssn(match: re.Match[str]) -> str:
    area, group, serial = match.groups()
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return match.group()
    return SSN_MASK


def _nino(match: re.Match[str]) -> str:
    return match.group() if match.group(1).upper() in NINO_BAD_PREFIXES else NINO_MASK


@dataclass(frozen=True)
class Rules:
    """One API's redaction rules, compiled: field names (lower case), and which detectors run."""

    names: frozenset[str] = field(default_factory=frozenset)
    cards: bool = False
    national_ids: bool = False
    emails: bool = False

    @property
    def detects(self) -> bool:
        return self.cards or self.national_ids or self.emails


def mask_text(text: str, rules: Rules) -> str:
    """`text` with every detector hit masked."""
    if rules.cards:
        text = CARD_RE.sub(_card, text)
    if rules.national_ids:
        text = NINO_RE.sub(_nino, SSN_RE.sub(_ssn, text))
    if rules.emails:
        text = EMAIL_RE.sub(EMAIL_MASK, text)
    return text


_SAFE = "!$'()*,;:@[]-._~"  # kept as they are when a masked value is written back into a URI


def _segment(raw: str, rules: Rules) -> str:
    decoded = unquote(raw) if "%" in raw else raw
    masked = mask_text(decoded, rules)
    if masked == decoded:
        return raw
    return quote(masked, safe=_SAFE)


def mask_path(path: str, rules: Rules) -> str:
    """A request path with detector hits masked in every segment, and the segment after a named one redacted.

    Segments are compared and scanned percent-decoded (``ana%40example.com`` is an address too); a segment that
    changes is written back encoded, the others are left exactly as they were.
    """
    segments = path.split("/")
    previous = ""
    for i, raw in enumerate(segments):
        if not raw:
            continue  # "//": the segment after a named one is the next non-empty one, as at the gateway
        if previous in rules.names:
            segments[i] = REDACTED
        elif rules.detects:
            segments[i] = _segment(raw, rules)
        previous = (unquote(raw) if "%" in raw else raw).lower()
    return "/".join(segments)


def mask_query(query: str, rules: Rules) -> str:
    """A query string with named parameters' values redacted and detector hits masked in the others."""
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if not eq:
            continue
        if unquote(name.replace("+", " ")).lower() in rules.names:
            parts[i] = f"{name}={REDACTED}"
        elif rules.detects and value:
            decoded = unquote(value.replace("+", " "))
            masked = mask_text(decoded, rules)
            if masked != decoded:
                parts[i] = f"{name}={quote(masked, safe=_SAFE)}"
    return "&".join(parts)


def mask_url(url: str, rules: Rules) -> str:
    """A request URI (path, then an optional query) masked as the access log and the request log show it."""
    path, question, query = url.partition("?")
    masked = mask_path(path, rules)
    return masked + question + mask_query(query, rules) if question else masked
