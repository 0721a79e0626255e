"""The automated survey's TwiML (issue 11 item 3; care.telephony.twilio survey_*).

GET|POST /calls/twiml/<attempt_id>/survey[?after=<item>]  ivr.survey_twiml

Twilio fetches it when the customer's leg is handed over (no ``after``: the greeting and
the first question) and after each answer (the gather webhook's ``<Redirect>``, ``after``
= the item just answered): the next question, or the thanks and the hang-up. Public but
signed, as the dial TwiML: the X-Twilio-Signature of CARE_PUBLIC_BASE_URL + the path is
checked before anything is looked up (403). An unknown call, or a survey finished or
failed meanwhile, gets the thanks and the hang-up. The customer hears Chinese whatever
the language of the specialist's page (``force_locale``).
"""

from __future__ import annotations

import flask_babel
from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select

from care.domain.survey_input import ivr_digits
from care.extensions import csrf, db
from care.models.ivr import IvrSurvey
from care.services import phone_survey as svc
from care.telephony import twilio as twilio_adapter
from care.telephony.signatures import TWILIO_HEADER, verify_twilio
from care.web.access import public

bp = Blueprint("ivr", __name__, url_prefix="/calls")

VOICE_LOCALE = "zh_CN"  # what the customer hears
MAX_AFTER = 40  # an item code


def _xml(text: str) -> Response:
    return Response(text, 200, {"Content-Type": "text/xml; charset=utf-8"})


def goodbye_text() -> str:
    with flask_babel.force_locale(VOICE_LOCALE):
        return flask_babel.gettext("Thank you for your time. Goodbye.")


def _prompt(text: str, scale_min: int, scale_max: int) -> str:
    with flask_babel.force_locale(VOICE_LOCALE):
        if ivr_digits(scale_max) > 1:
            how = flask_babel.gettext(
                "Please enter a score from %(min)d to %(max)d, then press the hash key.", min=scale_min, max=scale_max
            )
        else:
            how = flask_babel.gettext(
                "Please press a key from %(min)d to %(max)d; %(max)d means very satisfied.", min=scale_min, max=scale_max
            )
        return f"{text} {how}"


def _intro() -> str:
    with flask_babel.force_locale(VOICE_LOCALE):
        return flask_babel.gettext(
            "Hello, this is a short satisfaction survey of our dealership. Please answer each question with your phone's keys."
        )


@bp.route("/twiml/<id:attempt_id>/survey", methods=["GET", "POST"])
@public
@csrf.exempt
def survey_twiml(attempt_id: int):
    base = (current_app.config.get("CARE_PUBLIC_BASE_URL") or "").strip().rstrip("/")
    if not base:
        abort(403)
    params = request.form if request.method == "POST" else {}
    token = current_app.config.get("CARE_TWILIO_AUTH_TOKEN") or ""
    if not verify_twilio(token, base + request.full_path.rstrip("?"), params, request.headers.get(TWILIO_HEADER)):
        abort(403)
    after = (request.args.get("after") or "").strip()[:MAX_AFTER] or None
    ivr = db.session.scalars(select(IvrSurvey).where(IvrSurvey.attempt_id == attempt_id)).first()
    code = svc.next_item(ivr, after)
    if code is None:
        return _xml(twilio_adapter.survey_end_twiml(goodbye_text()))
    version = ivr.response.version
    item = next(i for i in version.items if i.code == code)
    return _xml(
        twilio_adapter.survey_question_twiml(
            base=base, attempt_id=attempt_id, item=code, prompt=_prompt(item.text_zh, version.scale_min, version.scale_max),
            num_digits=ivr_digits(version.scale_max), intro=None if after else _intro(),
        )  # fmt: skip
    )


def gather_answer(attempt_ref: str | None, item: str | None) -> Response | None:
    """The Twilio gather webhook's answer once the key is stored: back to the survey for
    the next question (``<Redirect>``), or — no usable call id — the thanks and hang-up.
    None without an item (not a survey question: 204 as before)."""
    if not item:
        return None
    base = (current_app.config.get("CARE_PUBLIC_BASE_URL") or "").strip().rstrip("/") or request.url_root.rstrip("/")
    ref = (attempt_ref or "").strip()
    if not (ref.isascii() and ref.isdigit() and 0 < int(ref) < 2**31):
        return _xml(twilio_adapter.survey_end_twiml(goodbye_text()))
    return _xml(twilio_adapter.survey_next_twiml(base=base, attempt_id=int(ref), item=item))
