"""The contact page (a customer's open tasks, bundled), the task page and outcomes.

GET /tasks/contact/<customer_id>, GET /tasks/<task_id>, POST /tasks/<task_id>/outcome
(the worklist and reassignment are care/web/worklist.py, the same /tasks/ prefix).
"""

from __future__ import annotations

import dataclasses as _dc

import flask
import flask_babel
import flask_login
from flask import Blueprint

from care.domain import dates as _dates
from care.domain import outcomes as outcome_rules
from care.domain import roles as role_rules
from care.extensions import db
from care.models.types import utcnow
from care.services import ServiceError as _ServiceError
from care.services import appointments as appointment_service
from care.services import customers as customer_service
from care.services import outcomes as outcome_service
from care.services import scripts as script_service
from care.services import tasks as task_service
from care.web import request_settings as _settings_service
from care.web.access import current_actor, roles_required, user_can
from care.web.calls import task_calls_for
from care.web.htmx import is_htmx, render
from care.web.i18n import translated
from care.web.labels import outcome_label
from care.web.unit_of_work import keep_on_error
from care.web.worklist import tasks_changed_header

bp = Blueprint("contact", __name__, url_prefix="/tasks")


# === Contact / task pages and outcomes (appended by the contact-page engineer) ==========
#
# The bundled contact (GET /tasks/contact/<customer_id>): the customer, vehicles and
# recent visits, consent, phones, then each open or blocked task with its reason,
# deadline, script and outcome form; one task (GET /tasks/<task_id>, closed ones
# read-only); recording an outcome (POST /tasks/<task_id>/outcome).
#
# Booking from "will come" (and "will come back", and the appointment task's "booked"):
# the outcome form carries the appointment fields (date, time, kind, vehicle, notes) and
# books in the same step, in the same transaction as the outcome; "booked" needs one
# (or an appointment already booked for the task). The "Book appointment" button leads
# to the booking form (appointments.new?task=…) for a booking without an outcome.
#
# The outcome form is plain HTML: one radio per outcome, each followed by its own
# fields (named "<outcome>-<field>"), shown only for the chosen outcome by CSS
# (`:has(:checked)`); without CSS every field shows and only the chosen outcome's are
# read. htmx posts it from the form (hx-target the form): 422 returns the form, success
# the whole task panel (HX-Retarget) and `HX-Trigger: tasks-changed`. Without htmx:
# 303 back to the contact page, or to the worklist when the contact has no open task
# left; 422 re-renders the page.
#
CONTACT_ROLES = tuple(sorted(role_rules.CALLING_ROLES))
TASK_READERS = (*CONTACT_ROLES, role_rules.Role.SALES_MANAGER, role_rules.Role.GENERAL_MANAGER)
RECENT_VISITS = 3  # visits per vehicle shown on the contact page
RECENT_TIMELINE = 5  # timeline entries shown on the contact page


@_dc.dataclass
class OutcomeFormState:
    """What an outcome form shows: the choice and values typed, errors, a message."""

    outcome: str | None = None
    values: dict = _dc.field(default_factory=dict)
    errors: dict[str, str] = _dc.field(default_factory=dict)
    form_errors: list[str] = _dc.field(default_factory=list)
    message: str | None = None  # "Recorded: not reached" after a non-closing outcome

    def value(self, name: str) -> str:
        return str(self.values.get(name) or "")

    def error(self, code: str, name: str) -> str | None:
        """The error of field `name` of outcome `code` (only the chosen one has errors)."""
        return self.errors.get(name) if code == self.outcome else None


@_dc.dataclass
class TaskPanel:
    task: object
    outcomes: tuple
    can_record: bool
    appointments: list
    script_version: object = None
    script_text: str | None = None
    state: OutcomeFormState = _dc.field(default_factory=OutcomeFormState)
    vehicles: list = _dc.field(default_factory=list)
    contact_done: bool = False  # the last open task of the contact was just closed
    from_detail: bool = False  # shown on the task page (plain posts back to it)
    today: str = ""  # the dealer's date, ISO (the booking date's minimum)
    workday: tuple[str, str] = ("", "")  # HH:MM of the work day (the booking time's range)
    default_kind: str = ""  # the service kind preselected for a booking
    calls: object = None  # care.services.calls.TaskCalls for the calling block (None: no calling)


def _cx_t(message: str, **params) -> str:
    """Translate a message id held in a variable (labels and errors of the domain)."""
    return flask_babel.gettext(message, **params)


def outcome_details(task_type: str | None, code: str | None, detail: dict | None) -> list[tuple[str, str]]:
    """(label, value) pairs of an outcome's detail, translated, in the form's order."""
    if not detail:
        return []
    spec = outcome_rules.outcome_spec(task_type or "", code)
    pairs: list[tuple[str, str]] = []
    seen = set()
    for f in spec.fields if spec else ():
        if f.name not in detail:
            continue
        seen.add(f.name)
        value = str(detail[f.name])
        if f.kind is outcome_rules.FieldKind.CHOICE:
            value = next((_cx_t(lbl) for v, lbl in f.choices if v == value), value)
        elif f.kind is outcome_rules.FieldKind.MONEY:
            value = flask_babel.format_currency(value, "CNY")
        pairs.append((_cx_t(f.label), value))
    for key, value in detail.items():
        if key not in seen and key not in ("appointment_id", "attempt_id", "not_counted"):
            pairs.append((key, str(value)))
    return pairs


def note_required_by(task_type: str | None) -> list[str]:
    """The outcomes (or choices) of this task type that need a note, translated."""
    return [_cx_t(label) for label in outcome_rules.note_required_by(task_type or "")]


@bp.app_context_processor
def _cx_helpers() -> dict:
    return {
        "outcome_details": outcome_details,
        "note_required_by": note_required_by,
    }


def _cx_user():
    return flask_login.current_user._get_current_object()


def _cx_script(task, cache: dict) -> tuple[object, str | None]:
    """(the current script version of the task's type, its text filled for this task)."""
    if task.type not in cache:
        cache[task.type] = script_service.current_version(db.session, task.type)
    version = cache[task.type]
    if version is None:
        return None, None
    text = script_service.render_for_task(
        db.session, task, version=version, user=_cx_user(), now=utcnow()
    )
    return version, text


def _cx_panel(
    task,
    *,
    state: OutcomeFormState | None = None,
    cache: dict | None = None,
    vehicles=None,
    from_detail: bool = False,
    calls: dict | None = None,
) -> TaskPanel:
    """The card of one task; ``calls``: :func:`task_calls_for` of the page's tasks (read
    here for this one task when not given)."""
    cache = {} if cache is None else cache
    is_open = outcome_service.is_open(task)
    if calls is None:
        calls = task_calls_for([task]) if is_open else {}
    version, text = _cx_script(task, cache) if is_open else (None, None)
    settings = _settings_service.current_settings()
    now = utcnow()
    return TaskPanel(
        task=task,
        outcomes=outcome_rules.outcomes_for(task.type),
        can_record=is_open
        and user_can("contact.outcome")
        and outcome_service.can_record(_cx_user(), task),
        appointments=appointment_service.for_task(db.session, task.id),
        script_version=version,
        script_text=text,
        state=state or OutcomeFormState(),
        vehicles=list(vehicles if vehicles is not None else task.customer.vehicles),
        from_detail=from_detail,
        today=_dates.local_date(now, settings.timezone).isoformat(),
        workday=(settings.workday_start.strftime("%H:%M"), settings.workday_end.strftime("%H:%M")),
        default_kind=appointment_service.default_kind(task),
        calls=calls.get(task.id),
    )




def _cx_contact_page(customer_id: int, *, override: TaskPanel | None = None, status: int = 200):
    now = utcnow()
    profile = customer_service.view_customer(db.session, customer_id, now=now, actor=current_actor())
    if profile is None:
        flask.abort(
            404, description=flask_babel.gettext("There is no customer with the id %(id)d.", id=customer_id)
        )
    customer = profile.customer
    cache: dict = {}
    vehicles = list(customer.vehicles)
    panels = []
    tasks = task_service.open_tasks_of(db.session, customer_id)
    calls = task_calls_for([t for t in tasks if override is None or t.id != override.task.id])
    for task in tasks:
        if override is not None and override.task.id == task.id:
            panels.append(override)
        else:
            panels.append(_cx_panel(task, cache=cache, vehicles=vehicles, calls=calls))
    if override is not None and all(p.task.id != override.task.id for p in panels):
        panels.insert(0, override)  # e.g. a refusal on a task closed meanwhile
    if status >= 400:
        # The page shows the customer again, with a refused outcome's errors: its audit
        # row of the view stays (the refusal itself wrote nothing: record_outcome checks
        # everything before its first write).
        keep_on_error()
    return (
        render(
            "contact/index.html",
            "contact/_contact.html",
            profile=profile,
            c=customer,
            panels=panels,
            recent_visits=RECENT_VISITS,
            full_phones=role_rules.sees_full_phone(_cx_user().roles),
            timeline=task_service.timeline(db.session, customer_id, limit=RECENT_TIMELINE),
            now=now,
        ),
        status,
    )


def _cx_task_or_404(task_id: int):
    task = task_service.get_task(db.session, task_id)
    if task is None:
        flask.abort(404, description=flask_babel.gettext("There is no task with the id %(id)d.", id=task_id))
    return task


def _cx_detail_page(task, *, panel: TaskPanel | None = None, status: int = 200):
    return (
        render(
            "contact/task.html",
            "contact/_task_page.html",
            task=task,
            panel=panel or _cx_panel(task, from_detail=True),
            now=utcnow(),
        ),
        status,
    )


@bp.route("/contact/<id:customer_id>")
@roles_required(*CONTACT_ROLES)
def index(customer_id: int):
    return _cx_contact_page(customer_id)


@bp.route("/<id:task_id>")
@roles_required(*TASK_READERS)
def task(task_id: int):
    return _cx_detail_page(_cx_task_or_404(task_id))


def _cx_form_values() -> dict:
    """The posted form, each value cut to a sane length (the service checks the rest)."""
    return {k: v[:5000] for k, v in flask.request.form.items() if k != "csrf_token"}


def _cx_respond_panel(panel: TaskPanel, status: int, *, retarget: bool, template: str = "contact/_task.html", **extra):
    """The task panel as an htmx fragment (replacing the whole panel when `retarget`)."""
    response = flask.make_response(
        flask.render_template(template, panel=panel, now=utcnow(), **extra), status
    )
    if retarget:
        response.headers["HX-Retarget"] = f"#task-{panel.task.id}"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


@bp.route("/<id:task_id>/outcome", methods=["POST"])
@roles_required(*CONTACT_ROLES)
def outcome(task_id: int):
    task = _cx_task_or_404(task_id)
    values = _cx_form_values()
    back_to_detail = values.get("from") == "detail"
    code = (values.get("outcome") or "").strip()
    spec = outcome_rules.outcome_spec(task.type, code)
    prefix = f"{code}-"
    detail = {k[len(prefix):]: v for k, v in values.items() if code and k.startswith(prefix)}
    booking = appointment_service.BookingRequest(
        date=values.get("appointment_date"),
        time=values.get("appointment_time"),
        service_kind=values.get("appointment_kind"),
        vehicle_id=values.get("appointment_vehicle"),
        notes=values.get("appointment_notes"),
    )
    state = OutcomeFormState(outcome=code or None, values=values)
    user = _cx_user()
    try:
        row = outcome_service.record_outcome(
            db.session,
            task,
            code,
            detail=detail,
            note=values.get("note"),
            script_version_id=values.get("script_version_id"),
            user=user,
            now=utcnow(),
            booking=booking if spec is not None and spec.booking is not outcome_rules.Booking.NONE else None,
        )
    except outcome_rules.OutcomeInvalid as exc:  # the refusals write nothing
        state.errors = {k: _cx_t(e.template, **e.params) for k, e in exc.errors.items()}
        return _cx_invalid(task_id, state, 422, back_to_detail)
    except outcome_service.OutcomeRefused as exc:
        state = OutcomeFormState(form_errors=[translated(exc)])
        return _cx_invalid(task_id, state, exc.status, back_to_detail, refused=True)
    except _ServiceError as exc:
        state.form_errors = [translated(exc)]
        return _cx_invalid(task_id, state, 422, back_to_detail)

    label = outcome_label(task.type, row.outcome)
    still_open = task_service.open_tasks_of(db.session, task.customer_id)
    if is_htmx():
        task = _cx_task_or_404(task_id)
        message = None if row.closes_task else flask_babel.gettext("Recorded: %(outcome)s.", outcome=label)
        panel = _cx_panel(task, state=OutcomeFormState(message=message))
        panel.contact_done = not still_open and not back_to_detail
        timeline = (  # the contact page's other regions, out of band
            None if back_to_detail else task_service.timeline(db.session, task.customer_id, limit=RECENT_TIMELINE)
        )
        response = _cx_respond_panel(
            panel, 200, retarget=True, template="contact/_outcome_recorded.html", timeline=timeline,
            open_count=len(still_open),
        )
        response.headers.update(tasks_changed_header(task=task_id))
        return response
    flask.flash(flask_babel.gettext("Outcome recorded: %(outcome)s.", outcome=label), "success")
    if back_to_detail:
        return flask.redirect(flask.url_for("contact.task", task_id=task_id), code=303)
    if not still_open:
        flask.flash(
            flask_babel.gettext("All tasks of %(name)s are settled.", name=task.customer.name), "success"
        )
        return flask.redirect(flask.url_for("worklist.index"), code=303)
    return flask.redirect(flask.url_for("contact.index", customer_id=task.customer_id), code=303)


def _cx_invalid(task_id: int, state: OutcomeFormState, status: int, back_to_detail: bool, *, refused: bool = False):
    """An outcome not recorded: the form again (htmx), or the page it came from."""
    task = _cx_task_or_404(task_id)
    panel = _cx_panel(task, state=state, from_detail=back_to_detail)
    if is_htmx():
        if refused:  # the whole panel: the task may be closed or not ours any more
            return _cx_respond_panel(panel, status, retarget=True)
        return flask.make_response(
            flask.render_template("contact/_outcome_form.html", panel=panel, now=utcnow()),
            status,
        )
    if back_to_detail:
        return _cx_detail_page(task, panel=panel, status=status)
    return _cx_contact_page(task.customer_id, override=panel, status=status)
