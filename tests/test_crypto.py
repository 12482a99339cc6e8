"""Secrets at rest: AES-256-GCM tokens, key ids and key rotation."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firehook.crypto import (
    SecretBox,
    SecretDecryptionError,
    generate_secret_key,
    key_id_for,
    key_id_of,
    parse_secret_key,
)

KEY_A = bytes(range(32))
# Encodes with both "+" and "/" in base64 (so "-" and "_" in base64url).
KEY_B = b"\xfb\xef\xbe\xff\xff\xff" + bytes(range(100, 126))
SECRET = "whsec_c3VwZXItc2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ="
TRIGGER = b"trigger:7f3c"


def payload_of(token: str) -> bytes:
    encoded = token.split(".")[2]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def with_payload(token: str, blob: bytes) -> str:
    version, key_id, _ = token.split(".")
    return f"{version}.{key_id}.{base64.urlsafe_b64encode(blob).rstrip(b'=').decode()}"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_keys(KEY_A)


@pytest.mark.parametrize("plaintext", [SECRET, "", "clé secrète ✓", "x" * 10_000])
def test_round_trip(box: SecretBox, plaintext: str) -> None:
    assert box.decrypt(box.encrypt(plaintext)) == plaintext
    assert box.decrypt(box.encrypt(plaintext, TRIGGER), TRIGGER) == plaintext


def test_token_format_is_version_key_id_and_nonce_with_ciphertext(box: SecretBox) -> None:
    token = box.encrypt(SECRET, TRIGGER)
    version, key_id, encoded = token.split(".")

    assert (version, key_id) == ("v1", key_id_for(KEY_A))
    assert "=" not in encoded and SECRET not in token
    blob = payload_of(token)
    assert len(blob) == 12 + len(SECRET) + 16
    # Readable by any AES-GCM implementation given the key: nonce first, tag last.
    assert AESGCM(KEY_A).decrypt(blob[:12], blob[12:], TRIGGER) == SECRET.encode()


def test_each_encryption_uses_a_fresh_nonce(box: SecretBox) -> None:
    tokens = {box.encrypt(SECRET) for _ in range(50)}
    assert len(tokens) == 50
    assert len({payload_of(token)[:12] for token in tokens}) == 50


def test_tampering_is_detected(box: SecretBox) -> None:
    token = box.encrypt(SECRET, TRIGGER)
    blob = payload_of(token)
    for position in range(len(blob)):
        flipped = bytearray(blob)
        flipped[position] ^= 0x01
        with pytest.raises(SecretDecryptionError, match="authentication"):
            box.decrypt(with_payload(token, bytes(flipped)), TRIGGER)
    for altered in (blob[:-1], blob + b"\0", blob[:12] + blob[13:]):
        with pytest.raises(SecretDecryptionError):
            box.decrypt(with_payload(token, altered), TRIGGER)


def test_wrong_associated_data_fails(box: SecretBox) -> None:
    token = box.encrypt(SECRET, TRIGGER)
    for associated_data in (b"", b"trigger:other", TRIGGER + b"\0"):
        with pytest.raises(SecretDecryptionError):
            box.decrypt(token, associated_data)
    with pytest.raises(SecretDecryptionError):
        box.decrypt(box.encrypt(SECRET), TRIGGER)


def test_unknown_key_id_fails(box: SecretBox) -> None:
    other = SecretBox.from_keys(KEY_B)
    token = other.encrypt(SECRET)
    with pytest.raises(SecretDecryptionError, match="unknown key id") as caught:
        box.decrypt(token)
    assert key_id_for(KEY_B) in str(caught.value)
    # A key id swapped for a known one does not help either: the key must fit.
    forged = token.replace(key_id_for(KEY_B), key_id_for(KEY_A))
    with pytest.raises(SecretDecryptionError, match="authentication"):
        box.decrypt(forged)


def test_rotation_keeps_old_tokens_readable() -> None:
    old_box = SecretBox.from_keys(KEY_A)
    old_token = old_box.encrypt(SECRET, TRIGGER)
    rotated = SecretBox.from_keys(KEY_B, previous=[KEY_A])

    assert rotated.current_key_id == key_id_for(KEY_B)
    assert rotated.key_id_of(old_token) == key_id_for(KEY_A)
    assert rotated.decrypt(old_token, TRIGGER) == SECRET

    new_token = rotated.reencrypt(old_token, TRIGGER)
    assert key_id_of(new_token) == key_id_for(KEY_B)
    assert rotated.decrypt(new_token, TRIGGER) == SECRET
    # Once everything is re-encrypted, the old key can go.
    assert SecretBox.from_keys(KEY_B).decrypt(new_token, TRIGGER) == SECRET
    with pytest.raises(SecretDecryptionError):
        SecretBox.from_keys(KEY_B).decrypt(old_token, TRIGGER)


def test_reencrypt_leaves_current_tokens_alone_but_checks_them(box: SecretBox) -> None:
    token = box.encrypt(SECRET, TRIGGER)
    assert box.reencrypt(token, TRIGGER) == token
    with pytest.raises(SecretDecryptionError):
        box.reencrypt(token, b"elsewhere")


def test_explicit_key_ids() -> None:
    box = SecretBox({"2024-01": KEY_A, "2025_06": KEY_B}, current_key_id="2025_06")
    token = box.encrypt(SECRET)
    assert token.startswith("v1.2025_06.")
    assert box.decrypt(token) == SECRET


@pytest.mark.parametrize(
    ("keys", "current", "message"),
    [
        ({"a": KEY_A}, "b", "not among the keys"),
        ({"a": KEY_A[:16]}, "a", "exactly 32 bytes"),
        ({"a": KEY_A + b"\0"}, "a", "exactly 32 bytes"),
        ({"a.b": KEY_A}, "a.b", "key id"),
        ({"": KEY_A}, "", "key id"),
    ],
)
def test_secret_box_rejects_bad_configuration(
    keys: dict[str, bytes], current: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        SecretBox(keys, current)
    assert KEY_A.hex() not in str(caught.value)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1",
        "v1.",
        "v1..AAAA",
        "v2.abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.abc",
        "v1.abc.",
        "v1.abc.AAAA",  # shorter than nonce and tag
        "v1.abc.not+url/safe=",
        "v1.abc.AAAAA",  # impossible base64 length
        "v1.a.b.c",
        "v1.ab c.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.abc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        "plaintext-secret",
    ],
)
def test_malformed_tokens_fail_cleanly(box: SecretBox, token: str) -> None:
    with pytest.raises(SecretDecryptionError, match="malformed"):
        box.decrypt(token)
    with pytest.raises(SecretDecryptionError):
        key_id_of(token)


def test_errors_hold_no_secret_material(box: SecretBox) -> None:
    token = box.encrypt(SECRET, TRIGGER)
    attempts: list[tuple[SecretBox, str, bytes]] = [
        (box, token, b"wrong"),
        (SecretBox.from_keys(KEY_B), token, TRIGGER),
        (box, token[:-4], TRIGGER),
        (box, token[:20], TRIGGER),
    ]
    for opener, candidate, associated_data in attempts:
        with pytest.raises(SecretDecryptionError) as caught:
            opener.decrypt(candidate, associated_data)
        text = str(caught.value) + repr(caught.value)
        for material in (SECRET, token, token.split(".")[2], KEY_A.hex(), KEY_B.hex()):
            assert material not in text
        # No chained exception drags internals into tracebacks.
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None or caught.value.__suppress_context__


# --- keys -------------------------------------------------------------------------------


def test_generate_secret_key_parses_back_to_32_random_bytes() -> None:
    text = generate_secret_key()
    assert len(parse_secret_key(text)) == 32
    assert parse_secret_key(text) != parse_secret_key(generate_secret_key())


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(KEY_B).decode(),
        base64.b64encode(KEY_B).decode().rstrip("="),
        base64.urlsafe_b64encode(KEY_B).decode(),
        base64.urlsafe_b64encode(KEY_B).decode().rstrip("="),
        "  " + base64.b64encode(KEY_B).decode() + "\n",
    ],
)
def test_parse_secret_key_accepts_base64_and_base64url(text: str) -> None:
    assert parse_secret_key(text) == KEY_B


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "base64"),
        ("   ", "base64"),
        ("not base64 at all", "base64"),
        ("AAAA*AAA", "base64"),
        (base64.b64encode(KEY_B).decode()[:-2] + "-_", "base64"),  # mixed alphabets
        ("A" * 41, "base64"),  # impossible length
        (base64.b64encode(b"k" * 16).decode(), "exactly 32 bytes, got 16"),
        (base64.b64encode(b"k" * 33).decode(), "exactly 32 bytes, got 33"),
        (KEY_A.hex(), "exactly 32 bytes, got 48"),
    ],
)
def test_parse_secret_key_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_secret_key(text)
    if text.strip():
        assert text.strip() not in str(caught.value)


def test_key_id_is_short_stable_and_not_the_key() -> None:
    key_id = key_id_for(KEY_A)
    assert key_id == key_id_for(bytes(KEY_A))
    assert key_id != key_id_for(KEY_B)
    assert len(key_id) == 16 and key_id.isalnum()
    assert key_id not in KEY_A.hex()
