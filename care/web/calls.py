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

``now`` is the real time; CARE_NOW (an ISO datetime) replaces it only when app.testing,
so that web tests can stand in a call slot.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

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

from care.domain.roles import CALLING_ROLES
from care.extensions import csrf, db
from care.models import CareTask
from care.models.call import CallAttempt
from care.models.types import utcnow
from care.services import calls as call_service
from care.services.tasks import get_task
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


@bp.route("/start/<id:task_id>", methods=["POST"])
@roles_required(*CALLER_ROLES)
def start(task_id: int):
    task = get_task(db.session, task_id)
    if task is None:
        abort(404, description=_("There is no task with the id %(id)d.", id=task_id))
    force = (request.form.get("force") or "").strip() or None
    provider_name = (current_app.config.get("CARE_TELEPHONY") or "sim").strip().lower()
    user = current_user._get_current_object()
    callback_base = _callback_base(provider_name)
    if callback_base is None:  # configuration changed since start-up (check_callback_base)
        message = _("The call could not be placed: %(error)s", error="CARE_PUBLIC_BASE_URL is not set")
        if is_htmx():
            body = render_template("calls/_refusal.html", message=message, code="not_configured", task_id=task_id)
            return Response(body, 503)
        flash(message, "error")
        return redirect(url_for("contact.index", customer_id=task.customer_id), code=303)
    try:
        attempt = call_service.start_call(
            db.session,
            task,
            user=user,
            now=now(),
            settings=current_settings(),
            provider_name=provider_name,
            caller_id=current_app.config.get("CARE_TWILIO_FROM") if provider_name == "twilio" else None,
            force=force,
        )
    except call_service.CallRefused as exc:  # refused before writing anything
        message = refusal_text(exc)
        status = 403 if exc.code == call_service.NOT_YOURS else (400 if exc.code == call_service.BAD_FORCE else 422)
        if is_htmx():
            body = render_template("calls/_refusal.html", message=message, code=exc.code, task_id=task_id)
            return Response(body, status)
        if exc.code == call_service.NOT_YOURS:  # not a flash on the way back: refused, as with htmx
            abort(403, description=message)
        flash(message, "error")
        return redirect(url_for("contact.index", customer_id=task.customer_id), code=303)
    # A deliberate second commit (care/web/unit_of_work.py): the attempt must exist before
    # ringing, because the provider's callbacks name it (its id is the correlation id).
    db.session.commit()
    call_service.originate(attempt, get_provider(current_app), callback_base=callback_base, force=force)
    if attempt.error is not None:
        keep_on_error()  # the 502 below: the attempt stays, marked as never placed
    if is_htmx():
        return _render_panel(attempt, 200 if attempt.error is None else 502)
    if attempt.error:
        flash(_("The call could not be placed: %(error)s", error=attempt.error), "error")
    else:
        flash(_("Calling: answer your phone (extension %(ext)s).", ext=attempt.agent_extension or "?"), "success")
    return redirect(url_for("contact.index", customer_id=task.customer_id), code=303)


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
