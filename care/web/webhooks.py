"""Provider webhooks (interfaces.md "Webhooks"): verify, store raw, answer, apply.

POST /webhooks/twilio/status   webhooks.twilio_status   Twilio call status callbacks (form)
POST /webhooks/twilio/dial     webhooks.twilio_dial     Twilio <Dial action>: the customer leg
POST /webhooks/twilio/gather   webhooks.twilio_gather   Twilio <Gather action>: IVR keys (with
                                                        ``item``: 200 TwiML, the survey's next step)
POST /webhooks/twilio/sms-status  webhooks.twilio_sms_status  Twilio message status callbacks (form)
POST /webhooks/events          webhooks.events          simulator / generic PBX JSON events, and
                                                        generic SMS delivery receipts
                                                        (``message_status``: care/messaging/receipts.py)

Answers: 204 stored (a duplicate too), 403 bad/missing signature or stale timestamp,
400 unreadable body, unknown status or missing fields (an empty body is 400 before the
signature is looked at: there is nothing to verify), never 404 (an unknown attempt is
stored unmatched), 5xx only when the event could not be stored.

The request stores the event with one ``INSERT … ON CONFLICT DO NOTHING RETURNING``
(the attempt resolved inside it), commits and answers; a duplicate costs that statement
and nothing else. The fold onto the attempt happens after the commit, by
``care.applier`` (a background thread by default, ``CARE_WEBHOOK_APPLY=inline`` in the
request): an apply that fails leaves the event stored (``applied_at`` empty) for the
applier's rescan or ``care sweep`` — the provider has its 204 either way.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, abort, current_app, request

from care import applier
from care.domain.callstate import (
    event_problem,
    map_twilio,
    payload_problem,
    text_problem,
    twilio_problem,
)
from care.extensions import csrf, db
from care.messaging import receipts
from care.models.types import utcnow
from care.services import call_event_store as svc
from care.telephony.base import EventError
from care.telephony.generic import map_generic
from care.telephony.signatures import GENERIC_HEADER, TWILIO_HEADER, verify_generic, verify_twilio
from care.telephony.twilio import gather_event_id
from care.web.access import public

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger("care.webhooks")

NO_CONTENT = ("", 204)
MAX_SURVEY_ITEM = 40  # the ``item`` of a <Gather action> URL (a survey item's name)
_INGEST_ENGINE = "care_ingest_engine"  # app.extensions: this process's pool for the webhooks


def ingest_engine(app):
    """The engine the webhooks store events on (``call_event_store.ingest_engine``),
    made once per app and process and kept in ``app.extensions``: every callback asks."""
    engine = app.extensions.get(_INGEST_ENGINE)
    if engine is None:
        options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
        engine = app.extensions.setdefault(_INGEST_ENGINE, svc.ingest_engine(db.engine, options))
    return engine


def _signed_url() -> str:
    """The URL the provider called: the public base URL + path + query, else request.url."""
    base = (current_app.config.get("CARE_PUBLIC_BASE_URL") or "").strip().rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def _store_and_apply(event, *, kind: str, payload: dict, attempt_ref: str | None):
    """Store (one INSERT), commit, hand the attempt to the applier, answer 204.

    An event that could never be stored or applied (a value out of range, text with NUL)
    is 400 here: a 5xx would have the provider retry it for ever (issue 9)."""
    problem = (
        event_problem(event)
        or payload_problem(payload)
        or (text_problem(attempt_ref, "attempt") if attempt_ref is not None else None)
    )
    if problem:
        abort(400, description=problem)
    app = current_app._get_current_object()
    with applier.webhook(app):  # the applier thread gives way meanwhile
        try:
            with applier.write_gate:  # this process's writes of events queue here
                stored = svc.ingest(ingest_engine(app), event, kind=kind, payload=payload, attempt_ref=attempt_ref, now=utcnow())
        except Exception as exc:  # the type only: the message may carry the payload
            log.error("webhook %s: the event could not be stored (%s)", request.path, type(exc).__name__)
            return {"error": "not stored"}, 503
    if stored.attempt_id is not None:
        applier.submit(app, stored.attempt_id)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "webhook %s: event %s %s (attempt %s)", request.path, stored.id or "-",
            "stored" if stored.created else "duplicate", stored.attempt_id or "unmatched",
        )  # fmt: skip
    return NO_CONTENT


def _twilio_form(check=twilio_problem) -> dict[str, str]:
    """A Twilio callback's form once verified: 400 empty, 403 bad signature, 400 what
    ``check`` (or the query) finds unstorable."""
    form = request.form
    if not form:
        abort(400, description="empty body")
    token = current_app.config.get("CARE_TWILIO_AUTH_TOKEN") or ""
    if not verify_twilio(token, _signed_url(), form, request.headers.get(TWILIO_HEADER)):
        abort(403, description="bad signature")
    params = {name: form.get(name, "") for name in form}
    problem = check(params) or payload_problem(dict(request.args), "query")
    if problem:
        abort(400, description=problem)
    return params


def _twilio(kind: str):
    params = _twilio_form()
    attempt_ref = request.args.get("attempt") or None
    if kind == svc.GATHER:
        event_id = gather_event_id(
            request.headers.get("I-Twilio-Idempotency-Token"), params, attempt_ref, request.args.get("item")
        )
        event = map_twilio(params, leg="customer", event_id=event_id)
        if event.provider_call_id is None:
            abort(400, description="CallSid is missing")
        item = request.args.get("item")
        if item is not None and len(item) > MAX_SURVEY_ITEM:
            abort(400, description="item is too long")
        payload = {**params, "survey_item": item}
        answer = _store_and_apply(event, kind=kind, payload=payload, attempt_ref=attempt_ref)
        if answer is NO_CONTENT:  # stored (or a duplicate): Twilio needs the next TwiML
            from care.web.ivr import gather_answer

            return gather_answer(attempt_ref, item) or answer
        return answer
    event = map_twilio(params, dial=kind == svc.DIAL)
    if event.provider_call_id is None:
        abort(400, description="CallSid is missing")
    if event.status is None and event.raw_status:
        abort(400, description="unknown status")
    if event.status is None and not (event.recording_url or event.answered_by):
        abort(400, description="status is missing")
    return _store_and_apply(event, kind=kind, payload=params, attempt_ref=attempt_ref)


@bp.route("/twilio/status", methods=["POST"])
@csrf.exempt
@public
def twilio_status():
    return _twilio(svc.STATUS)


@bp.route("/twilio/dial", methods=["POST"])
@csrf.exempt
@public
def twilio_dial():
    return _twilio(svc.DIAL)


@bp.route("/twilio/gather", methods=["POST"])
@csrf.exempt
@public
def twilio_gather():
    return _twilio(svc.GATHER)


def _store_receipt(receipt: receipts.Receipt, payload: dict):
    """Store and apply a delivery receipt, and commit (the webhooks commit their own
    write: care/web/unit_of_work.py leaves /webhooks/ alone); a receipt for no known
    message is stored unmatched. A receipt is one small row and one message: applied
    here, not by the applier thread."""
    try:
        with applier.write_gate:
            row, created = receipts.record(db.session, receipt, payload=payload, now=utcnow())
            db.session.commit()
    except Exception as exc:  # the type only: the message may carry the payload
        log.error("webhook %s: the receipt could not be stored (%s)", request.path, type(exc).__name__)
        db.session.rollback()
        return {"error": "not stored"}, 503
    if log.isEnabledFor(logging.DEBUG):
        log.debug("webhook %s: receipt %s %s", request.path, row.id, "stored" if created else "duplicate")
    return NO_CONTENT


@bp.route("/twilio/sms-status", methods=["POST"])
@csrf.exempt
@public
def twilio_sms_status():
    params = _twilio_form(payload_problem)
    try:
        receipt = receipts.from_twilio(params, request.args.get("message"))
    except receipts.ReceiptError as exc:
        abort(400, description=str(exc))
    return _store_receipt(receipt, params)


def _no_constant(name: str):
    """``json.loads``' hook for NaN/Infinity: not JSON, and PostgreSQL's json refuses them."""
    raise EventError(f"{name} is not a JSON number")


@bp.route("/events", methods=["POST"])
@csrf.exempt
@public
def events():
    body = request.get_data(cache=True)
    if not body:
        abort(400, description="empty body")
    secrets = [s.strip() for s in (current_app.config.get("CARE_WEBHOOK_SECRET") or "").split(",") if s.strip()]
    check = verify_generic(secrets, request.headers.get(GENERIC_HEADER), body, int(time.time()))
    if not check.ok:
        abort(403, description=f"signature {check.reason}")
    try:
        document = json.loads(body, parse_constant=_no_constant)
        if receipts.is_receipt(document):
            if payload_problem(document):
                abort(400, description=payload_problem(document))
            return _store_receipt(receipts.from_generic(document), document)
        event = map_generic(document)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # EventError, ReceiptError are ValueErrors
        readable = isinstance(exc, EventError | receipts.ReceiptError)
        abort(400, description=str(exc) if readable else "unreadable JSON")
    ref = document.get("attempt_id")
    attempt_ref = None if ref is None or isinstance(ref, bool) else str(ref)
    # IVR keys: digits, or an item with no key pressed (interfaces.md "survey_item")
    gather = event.status is None and (event.digits or document.get("survey_item"))
    kind = svc.GATHER if gather else svc.STATUS
    return _store_and_apply(event, kind=kind, payload=document, attempt_ref=attempt_ref)
