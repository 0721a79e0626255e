"""The questionnaire beside the call (issue 11 items 2 and 3): R8/R10 surveys on the phone
and the hand-over to the automated survey (care.services.phone_survey).

GET  /tasks/<task_id>/survey         phone_survey.panel   the panel (htmx; it reloads itself
                                                           while the customer is in the IVR);
                                                           plain: the contact page
POST /tasks/<task_id>/survey/answer  phone_survey.answer  one item (``item``, ``score``: a
                                                           score or ``none``), saved at once;
                                                           htmx: the item's save state (+ the
                                                           progress, out of band); 422 with
                                                           the reason for an unknown item or
                                                           a value that is no score
POST /tasks/<task_id>/survey/r7      phone_survey.r7      R8: the consultant's call within
                                                           72 h (``r7``: yes/no)
POST /tasks/<task_id>/survey/finish  phone_survey.finish  complete it and record the task's
                                                           outcome; htmx: the panel +
                                                           HX-Trigger tasks-changed
POST /tasks/<task_id>/survey/ivr     phone_survey.ivr     hand the customer on the line to
                                                           the automated survey

Roles: those who call (the contact page's); the service checks the task is the user's
(or a care manager's) and open: 403/409 otherwise. Plain posts (no htmx) answer 303 back
to the contact page, or the error page with the reason.

The hand-over commits the IVR survey row before the provider is asked (a deliberate
second commit, as the call start's in care/web/calls.py): the provider's answers name
the call, and the apply must find the survey when they come.
"""

from __future__ import annotations

import json

import flask
import flask_babel
import flask_login
from flask import Blueprint, current_app

from care.domain import surveys as survey_rules
from care.extensions import db
from care.models import CareTask
from care.services import phone_survey as svc
from care.services import tasks as task_service
from care.telephony.base import ProviderError
from care.telephony.providers import get_provider
from care.web import request_settings
from care.web.access import roles_required
from care.web.calls import TASKS_CHANGED
from care.web.calls import _callback_base as callback_base_for
from care.web.calls import now as utcnow  # CARE_NOW in tests, as the call area
from care.web.contact import CONTACT_ROLES
from care.web.htmx import is_htmx
from care.web.unit_of_work import keep_on_error

bp = Blueprint("phone_survey", __name__, url_prefix="/tasks")


def _user():
    return flask_login.current_user._get_current_object()


def _t(template: str, **params) -> str:
    return flask_babel.gettext(template, **params)


@bp.app_context_processor
def _helpers() -> dict:
    def ps_text(obj, attr: str) -> str:
        """A template row's Chinese or English text, by the page's language."""
        zh = getattr(obj, f"{attr}_zh", None)
        en = getattr(obj, f"{attr}_en", None)
        english = str(flask_babel.get_locale() or "").startswith("en")
        return (en or zh or "") if english else (zh or en or "")

    def ps_template_name(version) -> str:
        return ps_text(version.template, "name")

    def ps_setting(key: str):
        return getattr(request_settings.current_settings(), key)

    def phone_surveys(tasks) -> list:
        """The questionnaires of the contact's open survey tasks (R8, R10)."""
        user, now = _user(), utcnow()
        out = []
        for task in tasks or ():
            if svc.template_code(task) is None:
                continue
            survey = svc.survey_for(db.session, task, user=user, now=now)
            if survey is not None:
                out.append(survey)
        return out

    def ivr_offer(attempt):
        """The survey task a live answered call may hand to the IVR (the call panel)."""
        if attempt is None or not attempt.answered or not flask_login.current_user.is_authenticated:
            return None
        return svc.ivr_offer(db.session, attempt, _user())

    return {
        "ps_text": ps_text,
        "ps_template_name": ps_template_name,
        "ps_setting": ps_setting,
        "phone_surveys": phone_surveys,
        "ivr_offer": ivr_offer,
    }


def _task_or_404(task_id: int) -> CareTask:
    task = task_service.get_task(db.session, task_id)
    if task is None:
        flask.abort(404, description=flask_babel.gettext("There is no task with the id %(id)d.", id=task_id))
    if svc.template_code(task) is None:
        flask.abort(404, description=flask_babel.gettext("This task has no survey."))
    return task


def _panel(task: CareTask, status: int = 200, *, messages=(), headers: dict | None = None, retarget: bool = False):
    survey = svc.survey_for(db.session, task, user=_user(), now=utcnow())
    if survey is not None and survey.ivr is not None and not survey.ivr_active and flask.request.method == "GET":
        if flask.request.headers.get("HX-Trigger") == f"survey-{task.id}":
            # The poll that finds the IVR over: once, the outcome panel and the call area refresh.
            headers = {**(headers or {}), "HX-Trigger": json.dumps({TASKS_CHANGED: {"task": task.id, "survey": True}})}
    body = flask.render_template("phone_survey/_panel.html", sv=survey, messages=list(messages))
    response = flask.Response(body, status, headers or {})
    if retarget:
        response.headers["HX-Retarget"] = f"#survey-{task.id}"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


def _back(task: CareTask, message: str | None = None, category: str = "success"):
    """Without htmx: back to the contact page, the survey in view."""
    if message:
        flask.flash(message, category)
    return flask.redirect(flask.url_for("contact.index", customer_id=task.customer_id) + f"#survey-{task.id}", code=303)


def _refused(task: CareTask, exc: svc.SurveyRefused):
    """Not allowed (403 someone else's, 409 closed/finished, 422): the whole panel again
    with the reason (htmx), or the error page."""
    message = _t(exc.template, **exc.params)
    if is_htmx():
        return _panel(task, exc.status, messages=[("error", message)], retarget=True)
    flask.abort(exc.status, description=message)


def _invalid(task: CareTask, exc: survey_rules.SurveyError, target_status: bool = True):
    message = _t(exc.template, **exc.params)
    if is_htmx() and target_status:
        body = flask.render_template("phone_survey/_status.html", error=message, sv=None)
        return flask.Response(body, 422)
    if is_htmx():
        return _panel(task, 422, messages=[("error", message)], retarget=True)
    flask.abort(422, description=message)


@bp.route("/<id:task_id>/survey")
@roles_required(*CONTACT_ROLES)
def panel(task_id: int):
    task = _task_or_404(task_id)
    if not is_htmx():
        return _back(task)
    return _panel(task)


@bp.route("/<id:task_id>/survey/answer", methods=["POST"])
@roles_required(*CONTACT_ROLES)
def answer(task_id: int):
    task = _task_or_404(task_id)
    form = flask.request.form
    try:
        svc.save_phone_answer(db.session, task, form.get("item", "")[:80], form.get("score", "")[:20], user=_user(), now=utcnow())
    except svc.SurveyRefused as exc:
        return _refused(task, exc)
    except survey_rules.SurveyError as exc:
        return _invalid(task, exc)
    if not is_htmx():
        return _back(task, flask_babel.gettext("Answer saved."))
    survey = svc.survey_for(db.session, task, user=_user(), now=utcnow())
    return flask.render_template("phone_survey/_status.html", error=None, sv=survey)


@bp.route("/<id:task_id>/survey/r7", methods=["POST"])
@roles_required(*CONTACT_ROLES)
def r7(task_id: int):
    task = _task_or_404(task_id)
    try:
        svc.set_r7(db.session, task, flask.request.form.get("r7", "")[:10], user=_user(), now=utcnow())
    except svc.SurveyRefused as exc:
        return _refused(task, exc)
    except survey_rules.SurveyError as exc:
        return _invalid(task, exc)
    if not is_htmx():
        return _back(task, flask_babel.gettext("Answer saved."))
    return flask.render_template("phone_survey/_status.html", error=None, sv=None)


@bp.route("/<id:task_id>/survey/finish", methods=["POST"])
@roles_required(*CONTACT_ROLES)
def finish(task_id: int):
    task = _task_or_404(task_id)
    note = flask.request.form.get("note", "")[:5000].strip() or None
    try:
        row = svc.finish_by_hand(db.session, task, user=_user(), now=utcnow(), note=note)
    except svc.SurveyRefused as exc:
        return _refused(task, exc)
    except survey_rules.SurveyError as exc:
        return _invalid(task, exc, target_status=False)
    from care.web.labels import outcome_label

    message = (
        flask_babel.gettext("Survey finished; outcome recorded: %(outcome)s.", outcome=outcome_label(task.type, row.outcome))
        if row is not None
        else flask_babel.gettext("Survey finished.")
    )
    if not is_htmx():
        return _back(task, message)
    headers = {"HX-Trigger": json.dumps({TASKS_CHANGED: {"task": task.id, "customer": task.customer_id}})}
    return _panel(task, messages=[("success", message)], headers=headers)


@bp.route("/<id:task_id>/survey/ivr", methods=["POST"])
@roles_required(*CONTACT_ROLES)
def ivr(task_id: int):
    task = _task_or_404(task_id)
    user = _user()
    provider_name = (current_app.config.get("CARE_TELEPHONY") or "sim").strip().lower()
    base = callback_base_for(provider_name)
    if base is None:
        return _refused(task, svc.SurveyRefused("CARE_PUBLIC_BASE_URL is not set", status=503))
    try:
        handed = svc.hand_over(db.session, task, user=user, now=utcnow())
    except svc.SurveyRefused as exc:
        return _refused(task, exc)
    items = svc.provider_items(handed)
    attempt = handed.attempt
    call_id = svc.customer_call_id(db.session, attempt) if provider_name == "twilio" else None
    # Deliberate: the hand-over must be committed before the provider posts its answers.
    db.session.commit()
    try:
        get_provider(current_app).start_survey(attempt, items=items, callback_base=base, customer_call_id=call_id)
    except ProviderError as exc:
        svc.mark_failed(handed, str(exc))
        keep_on_error()
        message = flask_babel.gettext("The automated survey could not start: %(error)s", error=str(exc))
        if is_htmx():
            return _panel(task, 502, messages=[("error", message)])
        return _back(task, message, "error")
    message = flask_babel.gettext("The customer is handed over to the automated survey.")
    if not is_htmx():
        return _back(task, message)
    return _panel(task, messages=[("success", message)])
