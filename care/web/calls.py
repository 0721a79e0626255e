"""Click-to-call and the live call panel (telephony.md "The flow", architecture.md HTMX).

POST /calls/start/<task_id>        calls.start   create the attempt, commit, ring (the unit of
                                                 work commits what ringing stored);
                                                 htmx: the live panel (200) or the refusal
                                                 (422, 403 for someone else's task);
                                                 plain: 303 to the contact page + flash
                                                 (403 for someone else's task)
GET  /calls/<attempt_id>/panel     calls.panel   the live panel fragment, polled every 1 s
                                                 while the call runs; the first poll that
                                                 finds it ended stops polling and fires
                                                 HX-Trigger tasks-changed; 403 unless the
                                                 user may see the call (its caller, the
                                                 task's assignee, a manager:
                                                 care.domain.access.may_see_attempt)
GET|POST /calls/twiml/<attempt_id> calls.twiml   Twilio's TwiML (public, X-Twilio-Signature
                                                 checked before the attempt is looked up)

One call per contact (issue 10 items 1 and 6), the contact page's call area:

POST /calls/contact/<customer_id>        calls.contact_start  one attempt for every open task
                                                 of the customer the user may call now
                                                 (care.services.calls.start_contact_call, the
                                                 most urgent task leads); htmx: the whole call
                                                 area (200), now showing the live call and
                                                 "call in progress" on each task it counts
                                                 for; a refusal (422; 403 when none of the
                                                 tasks is the user's) goes to the area's message
                                                 slot (HX-Retarget #call-messages), never over
                                                 the live panel; plain: 303 + flash
GET  /calls/contact/<customer_id>/panel  calls.contact_panel  the call area (htmx; it reloads
                                                 itself on tasks-changed: the end of a call,
                                                 outcomes recorded); plain: the contact page
POST /calls/contact/<customer_id>/manual calls.contact_manual a call made outside the app (the
                                                 provider down, the desk phone): its time and
                                                 result count as an attempt for the contact's
                                                 tasks like a provider's, or give the call in
                                                 progress its result
                                                 (care.services.manual_calls); htmx: the call
                                                 area + HX-Trigger tasks-changed, or the form
                                                 with its error (422); plain: 303 + flash

The Call button is disabled while its request runs (hx-disabled-elt), and the area that
comes back has no Call button while the call runs: a double click starts one call, and
two clicks from two tabs meet the service's lock (one attempt, the other refused with
call_in_progress into the message slot).

``now`` is the real time; CARE_NOW (an ISO datetime) replaces it only when app.testing,
so that web tests can stand in a call slot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from care.domain import N_
from care.domain.attempts import RefusalCode, SlotOccurrence
from care.domain.dates import local_datetime, local_today, to_local
from care.domain.roles import CALLING_ROLES
from care.extensions import csrf, db
from care.models import CareTask
from care.models.call import CallAttempt
from care.models.types import utcnow
from care.services import besttime
from care.services import calls as call_service
from care.services import customers as customer_service
from care.services import manual_calls as manual_call_service
from care.services.outcomes import can_record
from care.services.tasks import get_task, open_tasks_of
from care.telephony import twilio as twilio_adapter
from care.telephony.providers import get_provider
from care.telephony.signatures import TWILIO_HEADER, verify_twilio
from care.web.access import public, roles_required
from care.web.htmx import is_htmx
from care.web.labels import slot_label
from care.web.request_settings import current_settings
from care.web.unit_of_work import keep_on_error

bp = Blueprint("calls", __name__, url_prefix="/calls")

CALLER_ROLES = tuple(sorted(CALLING_ROLES))
TASKS_CHANGED = "tasks-changed"

def now() -> datetime:
    """The time of the request (CARE_NOW in tests only)."""
    fixed = current_app.config.get("CARE_NOW")
    if fixed and current_app.testing:
        value = datetime.fromisoformat(fixed) if isinstance(fixed, str) else fixed
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return utcnow()


def refusal_text(exc: call_service.CallRefused) -> str:
    """A refusal in the user's language, its datetimes formatted."""
    params = {}
    for key, value in exc.params.items():
        if isinstance(value, datetime):
            value = format_datetime(value, "short")
        elif key in ("slot", "next_slot"):
            value = slot_label(value)
        params[key] = value
    return _(exc.template, **params)


def task_calls_for(tasks: list[CareTask]) -> dict[int, call_service.TaskCalls]:
    """For the task cards (``panel.calls``): the plan, attempts, refusal and live call of
    each task, by task id, in one query; none for a role that does not call."""
    if not current_user.is_authenticated or not (current_user.roles & CALLING_ROLES):
        return {}
    return call_service.task_calls_of(
        db.session, tasks, user=current_user._get_current_object(), settings=current_settings(), now=now()
    )


def _may_hear(attempt: CallAttempt) -> bool:
    """For templates: show an attempt's recording only to those who may see the call."""
    return current_user.is_authenticated and call_service.may_see(current_user, attempt)


@bp.app_context_processor
def _helpers() -> dict:
    return {
        "call_refusal_text": refusal_text,
        "call_finished": call_service.is_finished,
        "may_hear": _may_hear,
        "sim_forcing": lambda: current_app.config.get("CARE_TELEPHONY", "sim") == "sim",
        "manual_results": manual_results,
        "manual_call_form": lambda: ManualCallForm(at=_manual_default_at()),
    }


_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - a bound wildcard, reached on loopback


def sim_callback_base(environ: dict, config) -> str | None:
    """Where the simulator posts its events when CARE_PUBLIC_BASE_URL is unset:
    CARE_SIM_BASE_URL, else the address this server is bound to.

    Never the Host header (issue 9 item 21: ``Host: 127.0.0.1:5098`` sent the signed
    events to another server). The bound address is the WSGI environ's SERVER_NAME and
    SERVER_PORT as the server set them from its listening socket (werkzeug's ``flask
    run`` and gunicorn on TCP), before ProxyFix rewrites them from X-Forwarded-Host; a
    wildcard bind (0.0.0.0, ::) is reached on the loopback. Gunicorn on a unix socket
    fills SERVER_NAME from the Host header: there CARE_SIM_BASE_URL is needed (None)."""
    configured = (config.get("CARE_SIM_BASE_URL") or "").strip()
    if configured:
        return configured.rstrip("/")
    import socket

    listener = environ.get("gunicorn.socket")
    if listener is not None and getattr(listener, "family", None) == getattr(socket, "AF_UNIX", object()):
        return None
    orig = environ.get("werkzeug.proxy_fix.orig") or {}
    scheme = orig.get("wsgi.url_scheme") or environ.get("wsgi.url_scheme") or "http"
    name = orig.get("SERVER_NAME", environ.get("SERVER_NAME")) or ""
    port = str(orig.get("SERVER_PORT", environ.get("SERVER_PORT")) or "")
    name = _WILDCARDS.get(name, name)
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 address
    default = {"http": "80", "https": "443"}.get(scheme)
    return f"{scheme}://{name}" + (f":{port}" if port and port != default else "")


def _callback_base(provider_name: str) -> str | None:
    """The base URL of the provider's callbacks: CARE_PUBLIC_BASE_URL (required for the
    real providers, checked at start-up), else for the simulator its own address."""
    configured = (current_app.config.get("CARE_PUBLIC_BASE_URL") or "").strip()
    if configured:
        return configured.rstrip("/")
    if provider_name != "sim":
        return None
    return sim_callback_base(request.environ, current_app.config)


def _render_panel(attempt: CallAttempt, status: int = 200, headers: dict | None = None):
    body = render_template("calls/_panel.html", a=attempt, now=now())
    return Response(body, status, headers or {})


def _into_messages(selector: str) -> dict[str, str]:
    """A refusal goes to the message slot beside the Call button, never over the live
    panel of a call in progress (issue 10 item 6)."""
    return {"HX-Retarget": selector, "HX-Reswap": "innerHTML"}


@bp.route("/start/<id:task_id>", methods=["POST"])
@roles_required(*CALLER_ROLES)
def start(task_id: int):
    task = get_task(db.session, task_id)
    if task is None:
        abort(404, description=_("There is no task with the id %(id)d.", id=task_id))
    force = (request.form.get("force") or "").strip() or None
    provider_name = (current_app.config.get("CARE_TELEPHONY") or "sim").strip().lower()
    user = current_user._get_current_object()
    refused = {"customer_id": task.customer_id, "task_id": task_id, "target": f"#call-messages-{task_id}"}
    callback_base = _callback_base(provider_name)
    if callback_base is None:  # configuration changed since start-up (check_callback_base)
        return _not_configured(**refused)
    try:
        attempt = _ring([task], user=user, provider_name=provider_name, force=force, callback_base=callback_base)
    except call_service.CallRefused as exc:  # refused before writing anything
        return _refused(exc, **refused)
    if is_htmx():
        return _render_panel(attempt, 200 if attempt.error is None else 502)
    return _placed(attempt, task.customer_id)


def _ring(tasks: list[CareTask], *, user, provider_name: str, force: str | None, callback_base: str) -> CallAttempt:
    """Create the attempt for ``tasks`` (one customer's, lead first; raises CallRefused),
    commit it, and ask the provider to ring."""
    attempt = call_service.start_contact_call(
        db.session,
        tasks,
        user=user,
        now=now(),
        settings=current_settings(),
        provider_name=provider_name,
        caller_id=current_app.config.get("CARE_TWILIO_FROM") if provider_name == "twilio" else None,
        force=force,
    )
    return dial(attempt, callback_base=callback_base, force=force)


def dial(attempt: CallAttempt, *, callback_base: str, force: str | None) -> CallAttempt:
    """Commit a just-created attempt and ask the provider to ring (the task calls here and
    the complaint call-back of care/web/complaints.py)."""
    # A deliberate second commit (care/web/unit_of_work.py): the attempt must exist before
    # ringing, because the provider's callbacks name it (its id is the correlation id).
    db.session.commit()
    call_service.originate(attempt, get_provider(current_app), callback_base=callback_base, force=force)
    if attempt.error is not None:
        keep_on_error()  # the 502 that follows: the attempt stays, marked as never placed
    return attempt


def _placed(attempt: CallAttempt, customer_id: int):
    """Without htmx: back to the contact page with what happened."""
    if attempt.error:
        flash(_("The call could not be placed: %(error)s", error=attempt.error), "error")
    else:
        flash(_("Calling: answer your phone (extension %(ext)s).", ext=attempt.agent_extension or "?"), "success")
    return redirect(url_for("contact.index", customer_id=customer_id), code=303)


def _refused(exc: call_service.CallRefused, *, customer_id: int, task_id: int | None, target: str):
    """A call refused before anything was written: the message into ``target`` beside the
    Call button (htmx; 403 someone else's, 400 a bad forced outcome, else 422), or a flash
    on the contact page (a 403 stays a 403: refused, as with htmx)."""
    message = refusal_text(exc)
    status = 403 if exc.code == call_service.NOT_YOURS else (400 if exc.code == call_service.BAD_FORCE else 422)
    return _refusal(message, exc.code, status, customer_id=customer_id, task_id=task_id, target=target)


def _not_configured(*, customer_id: int, task_id: int | None, target: str):
    """CARE_PUBLIC_BASE_URL unset since start-up (check_callback_base): 503, nothing placed."""
    message = _("The call could not be placed: %(error)s", error="CARE_PUBLIC_BASE_URL is not set")
    return _refusal(message, "not_configured", 503, customer_id=customer_id, task_id=task_id, target=target)


def _refusal(message: str, code: str, status: int, *, customer_id: int, task_id: int | None, target: str):
    if is_htmx():
        body = render_template("calls/_refusal.html", message=message, code=code, task_id=task_id)
        return Response(body, status, _into_messages(target))
    if code == call_service.NOT_YOURS:
        abort(403, description=message)
    flash(message, "error")
    return redirect(url_for("contact.index", customer_id=customer_id), code=303)


@bp.route("/<id:attempt_id>/panel")
@roles_required(*CALLER_ROLES)
def panel(attempt_id: int):
    attempt = db.session.get(CallAttempt, attempt_id)
    if attempt is None:
        abort(404, description=_("There is no call with the id %(id)d.", id=attempt_id))
    if not call_service.may_see(current_user, attempt):  # someone else's call (care.domain.access)
        abort(403, description=_("This call is someone else's: only its caller, the task's assignee or a manager can follow it."))
    if not is_htmx():
        return redirect(url_for("contact.index", customer_id=attempt.customer_id))
    headers = {}
    if call_service.is_finished(attempt) and request.headers.get("HX-Trigger") == f"call-panel-{attempt.id}":
        # The poll that finds the call ended: the panel comes back without polling, so
        # this fires once; the task list and card refresh on it.
        headers["HX-Trigger"] = json.dumps({TASKS_CHANGED: {"task": attempt.task_id, "attempt": attempt.id}})
    return _render_panel(attempt, 200, headers)


@bp.route("/twiml/<id:attempt_id>", methods=["GET", "POST"])
@public
@csrf.exempt
def twiml(attempt_id: int):
    """Twilio fetches this when the agent answers: dial the customer. Signed requests only:
    the signature is checked first, so an unsigned request cannot even learn which
    attempt ids exist (403 for all of them). The signed URL and the TwiML's action URLs
    are built on CARE_PUBLIC_BASE_URL only, never on the Host header (issue 9 item 21):
    without it nothing can be checked (403)."""
    base = (current_app.config.get("CARE_PUBLIC_BASE_URL") or "").strip().rstrip("/")
    if not base:
        abort(403)
    url = base + request.full_path.rstrip("?")
    params = request.form if request.method == "POST" else {}
    token = current_app.config.get("CARE_TWILIO_AUTH_TOKEN") or ""
    if not verify_twilio(token, url, params, request.headers.get(TWILIO_HEADER)):
        abort(403)
    attempt = db.session.get(CallAttempt, attempt_id)
    if attempt is None:
        abort(404)
    xml = twilio_adapter.dial_twiml(
        base=base, attempt_id=attempt.id, to_number=attempt.to_number, caller_id=attempt.caller_id
    )
    return Response(xml, 200, {"Content-Type": "text/xml; charset=utf-8"})


# === One call per contact: the contact page's call area (issue 10 items 1 and 6) =========

RECENT_CALL = timedelta(minutes=30)  # an ended call stays in the call area this long
CONTACT_MESSAGES = "#call-messages"


@dataclass
class CallLine:
    """One of the user's open tasks of the contact, as the call area lists it."""

    task: CareTask
    calls: call_service.TaskCalls

    @property
    def callable(self) -> bool:
        return self.calls.refusal is None

    @property
    def in_progress(self) -> bool:
        return self.calls.plan.in_progress


@dataclass
class ContactCall:
    """The call area of a contact page: one Call button for the contact's tasks."""

    customer_id: int
    lines: list[CallLine]  # the user's open tasks of the contact, the most urgent first
    active: CallAttempt | None  # a call in progress for any of them
    shown: CallAttempt | None  # the call in progress, or the last one while recent
    refusal: call_service.CallRefused | None  # why nothing may be called now (None: the button)
    next_open: SlotOccurrence | None  # the earliest open slot of a task not callable now
    advice: besttime.ContactAdvice | None = None  # when they answer; the best open slot left

    @property
    def callable_lines(self) -> list[CallLine]:
        return [line for line in self.lines if line.callable]

    def plan_of(self, attempt: CallAttempt):
        """The plan of the task the call was started from (its lead), for the panel's words
        on which attempt it was; None when that task is not in the area."""
        return next((line.calls.plan for line in self.lines if line.task.id == attempt.task_id), None)


def desk_rates_cache() -> besttime.DeskRatesCache:
    """The process's copy of the desk's best-time rates (CARE_BEST_TIME_CACHE_SECONDS)."""
    found = current_app.extensions.get("care_desk_rates")
    if found is None:
        seconds = float(current_app.config.get("CARE_BEST_TIME_CACHE_SECONDS", 0) or 0)
        found = current_app.extensions["care_desk_rates"] = besttime.DeskRatesCache(seconds)
    return found


def contact_call_for(customer_id: int, tasks: list[CareTask], calls: dict | None = None) -> ContactCall | None:
    """The call area for ``tasks`` (a customer's open tasks, the most urgent first): those
    the user may act on, each with its plan; None for a role that does not call.
    ``calls``: :func:`task_calls_for` of the tasks (read here when not given)."""
    if not current_user.is_authenticated or not (current_user.roles & CALLING_ROLES):
        return None
    user = current_user._get_current_object()
    mine = [t for t in tasks if can_record(user, t)]
    calls = task_calls_for(mine) if calls is None else calls
    lines = [CallLine(t, calls[t.id]) for t in mine if t.id in calls]
    attempts = sorted(
        {a.id: a for line in lines for a in line.calls.attempts}.values(), key=lambda a: (a.started_at, a.id)
    )
    active = next((a for a in reversed(attempts) if not call_service.is_finished(a)), None)
    shown = active
    if shown is None and attempts and now() - attempts[-1].started_at <= RECENT_CALL:
        shown = attempts[-1]
    refusal = None
    if not any(line.callable for line in lines):
        refusals = [line.calls.refusal for line in lines]
        in_progress = [r for r in refusals if r.code == RefusalCode.CALL_IN_PROGRESS]
        nobody = (  # no line: the open tasks are others', or there is none left
            call_service.CallRefused(call_service.NOT_YOURS, N_("Only the task's assignee or a care manager can call for it."))
            if tasks
            else call_service.CallRefused(call_service.CLOSED, N_("This customer has no open task: no call is placed."))
        )
        refusal = (in_progress or refusals or [nobody])[0]
    waiting = [line.calls.plan.next_open for line in lines if not line.callable and line.calls.plan.next_open]
    occurrences = [o for line in lines for s in line.calls.plan.open_slots for o in s.occurrences]
    moment = now()
    advice = besttime.for_contact(
        db.session, customer_id, occurrences, now=moment, today=local_today(moment, current_settings().timezone),
        desk=desk_rates_cache(),
    )  # fmt: skip
    return ContactCall(
        customer_id=customer_id,
        lines=lines,
        active=active,
        shown=shown if shown is not None and call_service.may_see(user, shown) else None,
        refusal=refusal,
        next_open=min(waiting, key=lambda o: o.starts_at, default=None),
        advice=advice,
    )


@dataclass
class ManualCallForm:
    """The "called from another phone" form: what was typed, and why it was refused."""

    at: str = ""  # YYYY-MM-DDTHH:MM, the dealer's local time ("": now)
    result: str = ""
    error: str | None = None
    field: str | None = None  # at, result, or None for the whole form
    open: bool = False  # shown unfolded (after a refusal)


def manual_results() -> list[tuple[str, str]]:
    """(code, label) of the results a call made outside the app can have."""
    return [(code, _(label)) for code, label in manual_call_service.RESULTS]


def _manual_default_at() -> str:
    return to_local(now(), current_settings().timezone).strftime("%Y-%m-%dT%H:%M")


def _render_contact_call(customer_id: int, status: int = 200, headers: dict | None = None, *, notice: str | None = None):
    cc = contact_call_for(customer_id, open_tasks_of(db.session, customer_id))
    body = render_template("calls/_contact_call.html", cc=cc, customer_id=customer_id, now=now(), notice=notice)
    return Response(body, status, headers or {})


def _customer_or_404(customer_id: int) -> None:
    if customer_service.load_profile(db.session, customer_id, now=now()) is None:
        abort(404, description=_("There is no customer with the id %(id)d.", id=customer_id))


def _contact_refused(customer_id: int, exc: call_service.CallRefused):
    """A contact's call refused: the message beside the Call button (htmx; 403 when none
    of the tasks is the user's), or a flash on the contact page."""
    return _refused(exc, customer_id=customer_id, task_id=None, target=CONTACT_MESSAGES)


@bp.route("/contact/<id:customer_id>", methods=["POST"])
@roles_required(*CALLER_ROLES)
def contact_start(customer_id: int):
    """One call for the contact: it counts for each of the user's open tasks of this
    customer that may be called now (each in its own R13 budget and slot); the others are
    left out and shown as such."""
    tasks = open_tasks_of(db.session, customer_id)
    if not tasks:
        _customer_or_404(customer_id)
    user = current_user._get_current_object()
    mine = [t for t in tasks if can_record(user, t)]
    force = (request.form.get("force") or "").strip() or None
    provider_name = (current_app.config.get("CARE_TELEPHONY") or "sim").strip().lower()
    if not mine:
        code, template = (
            (call_service.NOT_YOURS, N_("Only the task's assignee or a care manager can call for it."))
            if tasks
            else (call_service.CLOSED, N_("This customer has no open task: no call is placed."))
        )
        return _contact_refused(customer_id, call_service.CallRefused(code, template))
    callback_base = _callback_base(provider_name)
    if callback_base is None:  # configuration changed since start-up (check_callback_base)
        return _not_configured(customer_id=customer_id, task_id=None, target=CONTACT_MESSAGES)
    try:
        attempt = _ring(mine, user=user, provider_name=provider_name, force=force, callback_base=callback_base)
    except call_service.CallRefused as exc:  # refused before writing anything
        return _contact_refused(customer_id, exc)
    if is_htmx():
        return _render_contact_call(customer_id, 200 if attempt.error is None else 502)
    return _placed(attempt, customer_id)


@bp.route("/contact/<id:customer_id>/panel")
@roles_required(*CALLER_ROLES)
def contact_panel(customer_id: int):
    """The contact's call area: the htmx fragment it reloads itself with."""
    if not is_htmx():
        return redirect(url_for("contact.index", customer_id=customer_id))
    tasks = open_tasks_of(db.session, customer_id)
    if not tasks:
        _customer_or_404(customer_id)
    return _render_contact_call(customer_id)


def _parse_local(value: str | None) -> datetime | None:
    """A ``datetime-local`` value (YYYY-MM-DDTHH:MM, the dealer's time) as an aware
    instant; blank: now; None when it is not such a value."""
    value = (value or "").strip()
    if not value:
        return now()
    if len(value) > 19:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return None
    return local_datetime(naive.date(), time(naive.hour, naive.minute), current_settings().timezone)


@bp.route("/contact/<id:customer_id>/manual", methods=["POST"])
@roles_required(*CALLER_ROLES)
def contact_manual(customer_id: int):
    """A call made outside the app, recorded for the contact's tasks (issue 10 item 5)."""
    tasks = open_tasks_of(db.session, customer_id)
    if not tasks:
        _customer_or_404(customer_id)
    user = current_user._get_current_object()
    mine = [t for t in tasks if can_record(user, t)]
    if tasks and not mine:
        abort(403, description=_("Only the task's assignee or a care manager can record this call."))
    typed_at = (request.form.get("at") or "").strip()[:40]
    result = (request.form.get("result") or "").strip()[:40]
    try:
        attempt = manual_call_service.record_manual_call(
            db.session,
            mine,
            user=user,
            at=_parse_local(typed_at),
            result=result or None,
            now=now(),
            settings=current_settings(),
        )
    except manual_call_service.ManualCallRefused as exc:
        message = _(exc.template, **{
            k: (format_datetime(v, "short") if isinstance(v, datetime) else v) for k, v in exc.params.items()
        })  # fmt: skip
        if is_htmx():  # the form again, beside (never over) the live panel
            mf = ManualCallForm(at=typed_at, result=result, error=message, field=exc.field, open=True)
            body = render_template("calls/_manual_call.html", mf=mf, customer_id=customer_id)
            return Response(body, 422, {"HX-Retarget": "#manual-call", "HX-Reswap": "outerHTML"})
        flash(message, "error")
        return redirect(url_for("contact.index", customer_id=customer_id), code=303)
    label = dict(manual_results()).get(result, result)
    message = _("Call recorded: %(result)s.", result=label)
    if is_htmx():  # the area with the call's result; the outcome panel hears tasks-changed
        headers = {"HX-Trigger": json.dumps({TASKS_CHANGED: {"attempt": attempt.id, "manual": True}})}
        return _render_contact_call(customer_id, 200, headers, notice=message)
    flash(message, "success")
    return redirect(url_for("contact.index", customer_id=customer_id), code=303)
