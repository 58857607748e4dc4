"""One table of detector cases, run against the platform's detectors and the gateway's (the same masking rule)."""

from __future__ import annotations

# (text, detectors on, masked text)
ALL = ("cards", "national_ids", "emails")
CASES: list[tuple[str, tuple[str, ...], str]] = [
    ("4111111111111111", ALL, "************1111"),  # Visa test number
    ("pay 4111-1111-1111-1111 now", ALL, "pay ************1111 now"),
    ("5500 0000 0000 0004", ALL, "************0004"),
    ("378282246310005", ALL, "***********0005"),  # Amex, 15 digits
    ("4111111111111112", ALL, "4111111111111112"),  # fails Luhn: an order number, not a card
    ("order 1234567890123", ALL, "order 1234567890123"),  # 13 digits failing Luhn
    ("41111111111111110", ALL, "41111111111111110"),  # 17 digits, fails Luhn as a whole
    ("123412341234", ALL, "123412341234"),  # 12 digits: too short to be a card
    ("x4111111111111111y", ALL, "x************1111y"),
    ("4111111111111111", ("emails",), "4111111111111111"),  # detector off
    ("ssn 123-45-6789.", ALL, "ssn [ssn]."),
    ("000-45-6789 666-45-6789 900-45-6789 123-00-6789 123-45-0000", ALL,
     "000-45-6789 666-45-6789 900-45-6789 123-00-6789 123-45-0000"),  # never issued
    ("1123-45-6789", ALL, "1123-45-6789"),  # inside a longer number
    ("AB123456C", ALL, "[nino]"),
    ("nino=ab 12 34 56 c;", ALL, "nino=[nino];"),
    ("GB123456A", ALL, "GB123456A"),  # an excluded prefix
    ("DA123456A", ALL, "DA123456A"),  # D is never a first letter
    ("XAB123456C", ALL, "XAB123456C"),  # part of a longer word
    ("mail ana.silva+x@example.co.uk!", ALL, "mail [email]!"),
    ("ana@localhost", ALL, "ana@localhost"),  # no dot in the domain: not taken for an address
    ("no secrets here /v1/items/42", ALL, "no secrets here /v1/items/42"),
]  # fmt: skip

# (url, names, masked) with every detector on
URLS: list[tuple[str, tuple[str, ...], str]] = [
    ("/shop/pay/4111111111111111", (), "/shop/pay/************1111"),
    ("/shop/users/ana%40example.com/orders", (), "/shop/users/[email]/orders"),
    ("/shop/ssn/123456789", ("ssn",), "/shop/ssn/[redacted]"),
    ("/shop/x?card_number=abc&q=1", ("card_number",), "/shop/x?card_number=[redacted]&q=1"),
    ("/shop/x?to=ana%40example.com&n=5", (), "/shop/x?to=[email]&n=5"),
    ("/shop/x?Password=hunter2", ("password",), "/shop/x?Password=[redacted]"),
    ("/shop/plain/path?a=1&b", ("password",), "/shop/plain/path?a=1&b"),
    ("/shop/ssn//123456789/x", ("ssn",), "/shop/ssn//[redacted]/x"),
]
