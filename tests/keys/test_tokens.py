import zlib

from keys import tokens


def test_generated_key_has_brand_kind_secret_and_checksum() -> None:
    issued = tokens.generate("live")
    assert issued.token.startswith("ptc_live_")
    assert len(issued.token) == 9 + tokens.SECRET_LENGTH + tokens.CHECKSUM_LENGTH
    assert issued.prefix == issued.token[:16]
    assert issued.last4 == issued.token[-4:]
    assert tokens.is_well_formed(issued.token, kind="live")


def test_checksum_is_base62_crc32_of_the_body() -> None:
    issued = tokens.generate("test")
    body = issued.token[:-6]
    number = 0
    for char in issued.token[-6:]:
        number = number * 62 + tokens.BASE62.index(char)
    assert number == zlib.crc32(body.encode())


def test_mistyped_key_fails_the_checksum() -> None:
    token = tokens.generate("live").token
    flipped = token[:20] + ("a" if token[20] != "a" else "b") + token[21:]
    assert not tokens.is_well_formed(flipped)


def test_wrong_kind_and_garbage_are_rejected() -> None:
    assert not tokens.is_well_formed(tokens.generate("live").token, kind="pat")
    for garbage in ["", "ptc_live_", "Bearer x", "ptc_live_" + "a" * 100, "ptc_live_" + "é" * 49]:
        assert not tokens.is_well_formed(garbage)


def test_digest_is_sha256_hex_and_secrets_are_unique() -> None:
    seen = {tokens.generate("live").digest for _ in range(200)}
    assert len(seen) == 200
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in seen)
