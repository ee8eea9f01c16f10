"""Checking a Cognito JWT the way an API in front of the pool would: signature, issuer, audience, use, expiry.

Deliberately small and strict, for tests only: RS256 alone (what Cognito signs with), the key chosen by
the token's `kid` from a JWKS document, the RSA public key built from the JWK's `n` and `e`, and the
PKCS#1 v1.5 SHA-256 signature checked over `<header>.<payload>` with the `cryptography` package.

    jwks = fetch_jwks(f"{endpoint}/{pool_id}/.well-known/jwks.json")
    claims = verify_cognito_token(token, jwks, issuer=pool_issuer, client_id=client_id, token_use="id")

Cognito puts the app client's id in `aud` of an ID token and in `client_id` of an access token (which has
no `aud`); `token_use` says which the token is. Every failure raises `InvalidTokenError` saying why.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class InvalidTokenError(Exception):
    """The token is malformed, not signed by a key of the JWKS, or its claims are not the expected ones."""


def fetch_jwks(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """The JSON Web Key Set at `url` (the pool's `/.well-known/jwks.json`)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # a test fetching from the emulator
        document: dict[str, Any] = json.loads(response.read())
    if not isinstance(document.get("keys"), list):
        raise InvalidTokenError(f"{url} is not a JWKS document: it has no `keys` list")
    return document


def b64url_decode(segment: str) -> bytes:
    """Base64url without padding, as JWTs and JWKs use it."""
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidTokenError(f"not base64url: {segment[:20]}...") from exc


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the claims, without any check: for looking, never for trusting."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError(f"a JWS in compact form has 3 parts, this one has {len(parts)}")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError as exc:
        raise InvalidTokenError("the header or the payload is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidTokenError("the header and the payload must be JSON objects")
    return header, claims


def public_key(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    """The RSA public key of a JWK (`kty` RSA, modulus `n` and exponent `e` as big-endian base64url)."""
    if jwk.get("kty") != "RSA":
        raise InvalidTokenError(f"key {jwk.get('kid')!r} is {jwk.get('kty')!r}, not RSA")
    n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
    e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def verify_signature(token: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The claims of `token` once its RS256 signature is shown to come from the JWKS key its `kid` names."""
    header, claims = decode_unverified(token)
    if header.get("alg") != "RS256":
        # Never let the token choose a weaker algorithm (`none`, HS256 keyed with the public key).
        raise InvalidTokenError(f"algorithm {header.get('alg')!r} is not RS256")
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    if len(keys) != 1:
        raise InvalidTokenError(f"the JWKS has {len(keys)} keys with kid {header.get('kid')!r}, not exactly one")
    if keys[0].get("alg") not in (None, "RS256") or keys[0].get("use") not in (None, "sig"):
        raise InvalidTokenError(f"key {header.get('kid')!r} is not an RS256 signing key")
    signing_input, _, signature = token.rpartition(".")
    try:
        public_key(keys[0]).verify(
            b64url_decode(signature), signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature as exc:
        raise InvalidTokenError("the signature does not match the header and payload") from exc
    return claims


def verify_cognito_token(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    token_use: str,
    now: float | None = None,
    leeway: float = 0.0,
) -> dict[str, Any]:
    """The claims of a Cognito ID (`token_use` "id") or access ("access") token, verified: signature,
    `iss` equal to the pool's issuer, the app client (`aud` or `client_id`), `token_use`, and a token
    that is not expired nor issued in the future (`leeway` seconds of clock skew allowed)."""
    claims = verify_signature(token, jwks)
    if claims.get("iss") != issuer:
        raise InvalidTokenError(f"issuer {claims.get('iss')!r} is not {issuer!r}")
    if claims.get("token_use") != token_use:
        raise InvalidTokenError(f"token_use {claims.get('token_use')!r} is not {token_use!r}")
    audience = claims.get("aud") if token_use == "id" else claims.get("client_id")
    if audience != client_id:
        raise InvalidTokenError(f"the token is for client {audience!r}, not {client_id!r}")
    moment = time.time() if now is None else now
    expires, issued = claims.get("exp"), claims.get("iat")
    if not isinstance(expires, int | float) or moment >= expires + leeway:
        raise InvalidTokenError(f"the token expired at {expires!r} (now {moment:.0f})")
    if not isinstance(issued, int | float) or issued > moment + leeway:
        raise InvalidTokenError(f"the token is issued at {issued!r}, in the future (now {moment:.0f})")
    return claims
