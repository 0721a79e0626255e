"""Webhook signatures (spec/telephony.md "Signatures"): Twilio's and our generic one.

Standard library only. The tests check ``twilio_signature`` against the ``twilio``
package's own ``RequestValidator`` (an independent implementation) and against the
published vectors.

Twilio (``X-Twilio-Signature``), mirroring twilio-python's ``RequestValidator``:

- the signed string is the URL Twilio requested, then, for each POST parameter name in
  sorted order (Python string order, as the library), name + value; a repeated name
  contributes each of its *distinct* values in sorted order (the library signs
  ``sorted(set(values))``, so a value repeated under one name counts once);
- HMAC-SHA1 keyed with the auth token, base64.
- ``verify_twilio`` tries the URL as given, the URL without its port and the URL with
  the scheme's default port (443 for https, 80 otherwise) when it has none, as the
  library's ``validate`` does ("sig generation on back end is inconsistent"). Unlike
  the library it strips the port from the host only (IPv6 literals and user info
  survive). The ``bodySHA256`` variant for JSON bodies is not supported.
- Twilio requests carry no timestamp: deduplication of events is the replay defence.

Generic (``X-Care-Signature: t=<unix>,v1=<hex>``, Stripe-style):
``v1 = hex(HMAC-SHA256(secret, f"{t}." + raw body))``. ``verify_generic`` accepts the
header when any ``v1`` matches any configured secret (rotation), checks the signature
before the timestamp (so ``stale`` means "genuinely signed but too old": a replay),
and ignores other schemes (``v0=`` …) as Stripe does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

TWILIO_HEADER = "X-Twilio-Signature"
GENERIC_HEADER = "X-Care-Signature"
DEFAULT_TOLERANCE = 300  # seconds either side of "now"
MAX_SIGNATURES = 8  # v1 values in one header; more is malformed

_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


# --------------------------------------------------------------------------- Twilio


def _values(params: Mapping[str, str | Sequence[str]], name: str) -> Iterable[str]:
    getlist = getattr(params, "getlist", None)  # werkzeug's MultiDict (Flask request.form)
    if callable(getlist):
        return getlist(name)
    value = params[name]
    return [value] if isinstance(value, str) else value


def _signed_string(url: str, params: Mapping[str, str | Sequence[str]] | None) -> str:
    parts = [url]
    for name in sorted(set(params or ())):
        for value in sorted(set(_values(params, name))):
            parts.append(name + value)
    return "".join(parts)


def twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str | Sequence[str]] | None
) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a form POST of ``params`` to ``url``.

    ``params`` maps a name to a value or to a list of values (repeated names); a
    mapping with ``getlist`` (Flask's ``request.form``) is read with it.
    """
    mac = hmac.new(
        auth_token.encode("utf-8"), _signed_string(url, params).encode("utf-8"), hashlib.sha1
    )
    return base64.b64encode(mac.digest()).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the default port (twilio-python)."""
    variants = [url]
    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError:  # a port that is not a number: only the URL as given
        return variants
    userinfo, at, hostport = parsed.netloc.rpartition("@")
    if port is not None:
        host = hostport.rpartition(":")[0]
        variants.append(parsed._replace(netloc=userinfo + at + host).geturl())
        variants.append(parsed.geturl())
    else:
        default = 443 if parsed.scheme == "https" else 80
        variants.append(parsed.geturl())
        variants.append(parsed._replace(netloc=f"{parsed.netloc}:{default}").geturl())
    return list(dict.fromkeys(variants))


def verify_twilio(
    auth_token: str,
    url: str,
    params: Mapping[str, str | Sequence[str]] | None,
    signature: str | None,
) -> bool:
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) signs this request.

    ``url`` is the public URL Twilio called (configured base URL + path + query), not
    necessarily the one Flask sees behind a proxy. Comparison is constant-time.
    """
    if not signature or not auth_token:
        return False
    given = signature.strip().encode("utf-8")
    # Each comparison is constant-time; stopping at the first variant that matches
    # tells an attacker only which spelling of the URL matched, nothing of the token.
    if hmac.compare_digest(twilio_signature(auth_token, url, params).encode("ascii"), given):
        return True  # the usual case: the URL as configured
    for candidate in _url_variants(url)[1:]:
        expected = twilio_signature(auth_token, candidate, params).encode("ascii")
        if hmac.compare_digest(expected, given):
            return True
    return False


# -------------------------------------------------------------------------- generic


@dataclass(frozen=True)
class GenericCheck:
    """The verdict on an ``X-Care-Signature`` header.

    ``reason`` is None when ``ok``, else one of ``missing`` (no header), ``malformed``
    (unparseable), ``mismatch`` (no v1 matches any secret), ``stale`` (signed, but the
    timestamp is more than the tolerance away from now). ``timestamp`` is the header's
    ``t`` when it could be read.
    """

    ok: bool
    reason: str | None = None
    timestamp: int | None = None

    def __bool__(self) -> bool:
        return self.ok


MISSING, MALFORMED, STALE, MISMATCH = "missing", "malformed", "stale", "mismatch"


def _generic_mac(secret: str, t: str, body: bytes) -> str:
    return hmac.new(
        secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256
    ).hexdigest()


def sign_generic(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Care-Signature`` header value for ``body`` sent at ``timestamp`` (unix s)."""
    if not secret:
        raise ValueError("an empty secret signs nothing")
    t = str(int(timestamp))
    return f"t={t},v1={_generic_mac(secret, t, body)}"


def _parse_generic(header: str) -> tuple[str, list[str]] | None:
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, eq, value = part.strip().partition("=")
        if not eq:
            return None
        key, value = key.strip(), value.strip()
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        return None
    if not signatures or len(signatures) > MAX_SIGNATURES:
        return None
    if not all(_HEX_SHA256.fullmatch(s) for s in signatures):
        return None
    return timestamps[0], [s.lower() for s in signatures]


def verify_generic(
    secrets: Sequence[str],
    header: str | None,
    body: bytes,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
) -> GenericCheck:
    """Check ``header`` (``t=…,v1=…[,v1=…]``) against the raw ``body`` and ``secrets``.

    Several secrets are tried (rotation: old and new both valid for a while); empty
    secrets are skipped, so with none configured every header is a ``mismatch``.
    """
    if header is None or not header.strip():
        return GenericCheck(False, MISSING)
    parsed = _parse_generic(header)
    if parsed is None:
        return GenericCheck(False, MALFORMED)
    t, given = parsed
    timestamp = int(t)
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = _generic_mac(secret, t, body).encode("ascii")
        for candidate in given:
            matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
    if not matched:
        return GenericCheck(False, MISMATCH, timestamp)
    if abs(int(now) - timestamp) > tolerance:
        return GenericCheck(False, STALE, timestamp)
    return GenericCheck(True, None, timestamp)
