"""Webhook signatures: Twilio's (against the twilio package and published vectors) and ours."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from care.telephony.signatures import (
    GenericCheck,
    sign_generic,
    twilio_signature,
    verify_generic,
    verify_twilio,
)

TOKEN = "12345"

# Twilio's docs example ("Validating requests", twilio.com/docs/usage/webhooks/webhooks-security);
# inputs as quoted by several integrations citing the docs, and reproduced by the twilio package.
DOCS_URL = "https://example.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}
DOCS_SIGNATURE = "L/OH5YylLD5NRKLltdqwSvS0BnU="

# twilio-python tests/unit/test_request_validator.py (setUp), read from the repository.
SDK_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
SDK_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
SDK_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
SDK_DUPLICATE_SIGNATURE = "IK+Dwps556ElfBT0I3Rgjkr1wJU="  # Sid, SidAccount, Digits=5678&1234
SDK_WITH_443 = "kvajT1Ptam85bY51eRf/AJRuM3w="  # the https URL signed with :443
SDK_HTTP_WITH_80 = "0ZXoZLH/DfblKGATFgpif+LLRf4="  # the http URL signed with :80
SDK_HTTP_WITH_1234 = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="  # the http URL signed with :1234


# ---------------------------------------------------------------- published vectors


def test_twilio_docs_vector():
    assert twilio_signature(TOKEN, DOCS_URL, DOCS_PARAMS) == DOCS_SIGNATURE
    assert verify_twilio(TOKEN, DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE)


def test_twilio_python_unit_test_vector():
    assert twilio_signature(TOKEN, SDK_URL, SDK_PARAMS) == SDK_SIGNATURE
    assert verify_twilio(TOKEN, SDK_URL, SDK_PARAMS, SDK_SIGNATURE)


def test_twilio_python_duplicate_vector():
    as_lists = {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234"]}
    assert twilio_signature(TOKEN, SDK_URL, as_lists) == SDK_DUPLICATE_SIGNATURE
    form = MultiDict(
        [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    )
    assert twilio_signature(TOKEN, SDK_URL, form) == SDK_DUPLICATE_SIGNATURE
    # a value repeated under one name counts once (twilio signs sorted(set(values)))
    form.add("Digits", "1234")
    assert verify_twilio(TOKEN, SDK_URL, form, SDK_DUPLICATE_SIGNATURE)


def test_twilio_python_port_vectors():
    with_port = SDK_URL.replace(".com", ".com:1234")
    assert verify_twilio(TOKEN, with_port, SDK_PARAMS, SDK_SIGNATURE)  # port removed
    assert verify_twilio(TOKEN, SDK_URL, SDK_PARAMS, SDK_WITH_443)  # :443 added
    http = SDK_URL.replace("https", "http")
    assert verify_twilio(TOKEN, http, SDK_PARAMS, SDK_HTTP_WITH_80)  # :80 added
    assert verify_twilio(TOKEN, with_port.replace("https", "http"), SDK_PARAMS, SDK_HTTP_WITH_1234)
    assert not verify_twilio(TOKEN, http, SDK_PARAMS, SDK_WITH_443)


# ------------------------------------------------------- against the twilio package

_text = st.text(
    alphabet=st.one_of(
        st.sampled_from("+&=?# %/:汽车保养客户王李张"),
        st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
    ),
    max_size=12,
)
_names = st.text(alphabet=st.sampled_from("abcXYZ_09+&汽车"), min_size=1, max_size=8)


@st.composite
def _urls(draw):
    scheme = draw(st.sampled_from(["https", "http"]))
    host = draw(st.sampled_from(["care.example.cn", "127.0.0.1", "MyCompany.com"]))
    port = draw(st.sampled_from(["", ":443", ":80", ":8443"]))
    path = draw(st.sampled_from(["/webhooks/twilio/status", "/webhooks/twilio/dial", "/"]))
    query = draw(st.sampled_from(["", "?attempt=42", "?attempt=42&x=%E6%B1%BD"]))
    return f"{scheme}://{host}{port}{path}{query}"


_params = st.dictionaries(
    _names, st.one_of(_text, st.lists(_text, min_size=1, max_size=3)), max_size=6
)


def _multidict(params) -> MultiDict:
    items = []
    for name, value in params.items():
        items.extend((name, v) for v in ([value] if isinstance(value, str) else value))
    return MultiDict(items)


@settings(max_examples=100, deadline=None)
@given(token=_text.filter(bool), url=_urls(), params=_params)
def test_signature_equals_twilio_package(token, url, params):
    form = _multidict(params)  # twilio reads repeated names through getlist
    expected = RequestValidator(token).compute_signature(url, form)
    assert twilio_signature(token, url, params) == expected
    assert twilio_signature(token, url, form) == expected
    assert verify_twilio(token, url, params, expected)


@settings(max_examples=100, deadline=None)
@given(token=_text.filter(bool), url=_urls(), signed_url=_urls(), params=_params)
def test_verify_agrees_with_twilio_validate(token, url, signed_url, params):
    form = _multidict(params)
    signature = RequestValidator(token).compute_signature(signed_url, form)
    assert verify_twilio(token, url, form, signature) == RequestValidator(token).validate(
        url, form, signature
    )


def test_verify_twilio_rejects_changes():
    good = DOCS_SIGNATURE
    assert not verify_twilio(TOKEN, DOCS_URL, {**DOCS_PARAMS, "Digits": "9999"}, good)
    assert not verify_twilio(TOKEN, DOCS_URL, {**DOCS_PARAMS, "Extra": ""}, good)
    assert not verify_twilio(TOKEN, DOCS_URL + "&attempt=7", DOCS_PARAMS, good)
    assert not verify_twilio(TOKEN, DOCS_URL.replace("https", "http"), DOCS_PARAMS, good)
    assert not verify_twilio("54321", DOCS_URL, DOCS_PARAMS, good)
    assert not verify_twilio(TOKEN, DOCS_URL, DOCS_PARAMS, good[:-2] + "A=")
    assert not verify_twilio(TOKEN, DOCS_URL, DOCS_PARAMS, None)
    assert not verify_twilio(TOKEN, DOCS_URL, DOCS_PARAMS, "")
    assert not verify_twilio(TOKEN, DOCS_URL, DOCS_PARAMS, "不是签名")
    assert not verify_twilio("", DOCS_URL, DOCS_PARAMS, good)
    assert not verify_twilio(TOKEN, "https://example.com:abc/x", DOCS_PARAMS, good)


def test_params_may_be_empty():
    expected = RequestValidator(TOKEN).compute_signature(DOCS_URL, {})
    assert (
        twilio_signature(TOKEN, DOCS_URL, {}) == expected == twilio_signature(TOKEN, DOCS_URL, None)
    )


# -------------------------------------------------------------------------- generic

SECRET = "whsec_care_一"
BODY = '{"event_id": "e1", "status": "busy", "note": "客户忙"}'.encode()
NOW = 1_767_225_600


def test_generic_round_trip():
    header = sign_generic(SECRET, BODY, NOW)
    t, v1 = header.split(",")
    assert t == f"t={NOW}"
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert v1 == f"v1={expected}"
    check = verify_generic([SECRET], header, BODY, NOW + 10)
    assert check == GenericCheck(True, None, NOW) and check


def test_generic_mismatch():
    header = sign_generic(SECRET, BODY, NOW)
    assert verify_generic([SECRET], header, BODY + b" ", NOW).reason == "mismatch"
    assert verify_generic(["other"], header, BODY, NOW).reason == "mismatch"
    assert verify_generic([], header, BODY, NOW).reason == "mismatch"
    assert verify_generic([""], header, BODY, NOW).reason == "mismatch"
    # the timestamp is signed: moving it breaks the signature
    moved = header.replace(f"t={NOW}", f"t={NOW + 1}")
    assert verify_generic([SECRET], moved, BODY, NOW).reason == "mismatch"


def test_generic_stale():
    header = sign_generic(SECRET, BODY, NOW)
    assert verify_generic([SECRET], header, BODY, NOW + 300).ok
    assert verify_generic([SECRET], header, BODY, NOW - 300).ok
    assert verify_generic([SECRET], header, BODY, NOW + 301).reason == "stale"
    assert verify_generic([SECRET], header, BODY, NOW - 301).reason == "stale"
    assert verify_generic([SECRET], header, BODY, NOW + 61, tolerance=60).reason == "stale"


@pytest.mark.parametrize("header", [None, "", "   "])
def test_generic_missing(header):
    assert verify_generic([SECRET], header, BODY, NOW) == GenericCheck(False, "missing")


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"t={NOW}",
        "v1=" + "a" * 64,
        f"t=abc,v1={'a' * 64}",
        f"t=-5,v1={'a' * 64}",
        f"t=١٢٣,v1={'a' * 64}",  # non-ASCII digits
        f"t={NOW},t={NOW},v1={'a' * 64}",
        f"t={NOW},v1=xyz",
        f"t={NOW},v1={'a' * 63}",
        f"t={NOW},v1={'a' * 64},junk",
        f"t={NOW}," + ",".join(["v1=" + "a" * 64] * 9),
    ],
)
def test_generic_malformed(header):
    assert verify_generic([SECRET], header, BODY, NOW).reason == "malformed"


def test_generic_rotation_two_secrets():
    old, new = "old-secret", "new-secret"
    assert verify_generic([new, old], sign_generic(old, BODY, NOW), BODY, NOW).ok
    assert verify_generic([new, old], sign_generic(new, BODY, NOW), BODY, NOW).ok
    assert not verify_generic([new], sign_generic(old, BODY, NOW), BODY, NOW).ok


def test_generic_several_v1_values():
    old, new = "old-secret", "new-secret"
    v1_old = sign_generic(old, BODY, NOW).split(",")[1]
    header = f"{sign_generic(new, BODY, NOW)},{v1_old}"
    assert verify_generic([old], header, BODY, NOW).ok
    assert verify_generic([new], header, BODY, NOW).ok
    # spaces, upper-case hex and unknown schemes (v0) are tolerated
    spaced = f" t={NOW} , v0=deadbeef , {v1_old.upper().replace('V1', 'v1')} "
    assert verify_generic([old], spaced, BODY, NOW).ok


def test_sign_generic_refuses_an_empty_secret():
    with pytest.raises(ValueError):
        sign_generic("", BODY, NOW)
