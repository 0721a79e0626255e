"""The contact page (a customer's open tasks as one conversation), the task page and outcomes.

GET /tasks/contact/<customer_id>, GET|POST /tasks/contact/<customer_id>/outcomes,
GET /tasks/<task_id>, POST /tasks/<task_id>/outcome (the worklist and reassignment are
care/web/worklist.py, the same /tasks/ prefix; the contact's call area is
care/web/calls.py).
"""

from __future__ import annotations

import dataclasses as _dc
import re

import flask
import flask_babel
import flask_login
from flask import Blueprint

from care.domain import dates as _dates
from care.domain import outcomes as outcome_rules
from care.domain import roles as role_rules
from care.extensions import db
from care.models.types import MAX_INTEGER as MAX_ID
from care.models.types import utcnow
from care.services import ServiceError as _ServiceError
from care.services import appointments as appointment_service
from care.services import customers as customer_service
from care.services import outcomes as outcome_service
from care.services import scripts as script_service
from care.services import tasks as task_service
from care.web import request_settings as _settings_service
from care.web.access import current_actor, roles_required, user_can
from care.web.calls import contact_call_for, task_calls_for
from care.web.htmx import is_htmx, render
from care.web.i18n import translated
from care.web.labels import outcome_label, task_type_label
from care.web.unit_of_work import discard, keep_on_error
from care.web.worklist import carried_filter_args, tasks_changed_header

bp = Blueprint("contact", __name__, url_prefix="/tasks")


# === Contact / task pages and outcomes (appended by the contact-page engineer) ==========
#
# The contact as one conversation (GET /tasks/contact/<customer_id>, issue 10 item 1):
# the customer's facts in a narrow column; the call area (care/web/calls.py: one Call
# button for every open task of the user, each task saying whether the call counts for
# it) above the script assembled from the tasks' scripts (greeting once, each task's own
# part, closing once: care.services.scripts.contact_script); beside them the outcome
# panel, a row per task (a colleague's read-only), all rows posted at once
# (GET|POST /tasks/contact/<customer_id>/outcomes, below). One task: GET /tasks/<task_id>
# (closed ones read-only), its outcome POST /tasks/<task_id>/outcome.
#
# Booking from "will come" (and "will come back", and the appointment task's "booked"):
# the outcome's fields carry the appointment (date, time, kind, vehicle, notes) and book
# in the same step, in the same transaction as the outcome; "booked" needs one (or an
# appointment already booked for the task). The task page's "Book appointment" button
# leads to the booking form (appointments.new?task=…) for a booking without an outcome.
#
# The outcome choices are plain HTML: one radio per outcome, each followed by its own
# fields, shown only for the chosen outcome by CSS (`:has(:checked)`); without CSS every
# field shows and only the chosen outcome's are read. On the task page the form posts
# one outcome (fields "<outcome>-<field>"): htmx 422 returns the form, success the task
# panel; without htmx 303 back, 422 the page again. On the contact page every field is
# prefixed with its task, "t<task id>-<outcome>-<field>".
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




@_dc.dataclass
class OutcomeRow:
    """One task in the contact's outcome panel: its outcome choices and fields (named
    ``t<task id>-<name>``), or why it is read-only."""

    task: object
    outcomes: tuple
    can_record: bool
    appointments: list
    script_version: object = None  # the version of the contact's script this task's part came from
    state: OutcomeFormState = _dc.field(default_factory=OutcomeFormState)
    vehicles: list = _dc.field(default_factory=list)
    today: str = ""
    workday: tuple[str, str] = ("", "")
    default_kind: str = ""

    @property
    def prefix(self) -> str:
        return f"t{self.task.id}-"

    @property
    def is_open(self) -> bool:
        return outcome_service.is_open(self.task)


@_dc.dataclass
class OutcomePanel:
    """The contact's outcome panel: a row per task, one form for all of them."""

    customer: object
    rows: list[OutcomeRow]
    message: str | None = None  # what the last post recorded
    form_errors: list[str] = _dc.field(default_factory=list)

    @property
    def recordable(self) -> list[OutcomeRow]:
        return [r for r in self.rows if r.can_record]

    @property
    def done(self) -> bool:
        """Every task of the contact the user may record on has its outcome."""
        return not self.recordable


def _cx_outcome_panel(
    customer,
    tasks: list,
    *,
    script=None,
    states: dict[int, OutcomeFormState] | None = None,
    extra: list | None = None,
    message: str | None = None,
    form_errors: list[str] | None = None,
) -> OutcomePanel:
    """The outcome panel of ``tasks`` (the customer's open tasks; ``extra``: tasks shown
    again with a refusal, e.g. closed meanwhile). Reads the appointments of all rows in one
    query; ``script``: the contact's script (read here when not given)."""
    user = _cx_user()
    states = states or {}
    shown = list(tasks) + [t for t in (extra or []) if all(t.id != s.id for s in tasks)]
    if script is None:
        script = script_service.contact_script(
            db.session, [t for t in tasks if outcome_service.can_record(user, t)], user=user, now=utcnow(),
            settings=_settings_service.current_settings(),
        )  # fmt: skip
    appointments = appointment_service.for_tasks(db.session, [t.id for t in shown])
    settings = _settings_service.current_settings()
    now = utcnow()
    may_record = user_can("contact.outcome")
    rows = [
        OutcomeRow(
            task=task,
            outcomes=outcome_rules.outcomes_for(task.type),
            can_record=outcome_service.is_open(task) and may_record and outcome_service.can_record(user, task),
            appointments=appointments.get(task.id, []),
            script_version=script.version_for(task.id),
            state=states.get(task.id) or OutcomeFormState(),
            vehicles=list(customer.vehicles),
            today=_dates.local_date(now, settings.timezone).isoformat(),
            workday=(settings.workday_start.strftime("%H:%M"), settings.workday_end.strftime("%H:%M")),
            default_kind=appointment_service.default_kind(task),
        )
        for task in shown
    ]
    rows.sort(key=lambda r: not r.can_record)  # the user's own rows first, each group by urgency
    return OutcomePanel(customer, rows, message=message, form_errors=form_errors or [])


def _cx_contact_page(
    customer_id: int,
    *,
    states: dict[int, OutcomeFormState] | None = None,
    extra: list | None = None,
    form_errors: list[str] | None = None,
    status: int = 200,
):
    """The contact as one conversation: the call area and the assembled script beside
    the outcome panel, the customer's facts compact. ``states``/``extra``/``form_errors``:
    outcomes refused, shown again with what was typed (``status`` >= 400)."""
    now = utcnow()
    profile = customer_service.view_customer(db.session, customer_id, now=now, actor=current_actor())
    if profile is None:
        flask.abort(
            404, description=flask_babel.gettext("There is no customer with the id %(id)d.", id=customer_id)
        )
    customer = profile.customer
    user = _cx_user()
    tasks = task_service.open_tasks_of(db.session, customer_id)
    mine = [t for t in tasks if outcome_service.can_record(user, t)]
    calls = task_calls_for(tasks)
    # The script follows the call: the tasks it counts for first (the most urgent of them
    # greets and closes), then those it does not (a used slot, a closed window: a birthday
    # of last month must not greet), each group by urgency.
    callable_now = {t.id for t in mine if t.id in calls and calls[t.id].refusal is None}
    script = script_service.contact_script(
        db.session, sorted(mine, key=lambda t: t.id not in callable_now), user=user, now=now,
        settings=_settings_service.current_settings(),
    )  # fmt: skip
    panel = _cx_outcome_panel(customer, tasks, script=script, states=states, extra=extra, form_errors=form_errors)
    if status >= 400:
        # The page shows the customer again, with refused outcomes' errors: its audit row
        # of the view stays (the refused outcomes were rolled back before: see outcomes()).
        keep_on_error()
    return (
        render(
            "contact/index.html",
            "contact/_contact.html",
            profile=profile,
            c=customer,
            tasks=tasks,
            script=script,
            callable_now=callable_now if calls else None,
            outcome_panel=panel,
            cc=contact_call_for(customer_id, tasks, {t.id: calls[t.id] for t in mine if t.id in calls}),
            recent_visits=RECENT_VISITS,
            full_phones=role_rules.sees_full_phone(user.roles),
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


def _cx_record(task, values: dict):
    """Record the outcome ``values`` (a form's fields: outcome, <outcome>-<field>,
    appointment_*, note, script_version_id) on ``task``; raises as record_outcome."""
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
        overbook_reason=values.get("appointment_overbook_reason"),
    )
    return outcome_service.record_outcome(
        db.session,
        task,
        code,
        detail=detail,
        note=values.get("note"),
        script_version_id=values.get("script_version_id"),
        user=_cx_user(),
        now=utcnow(),
        booking=booking if spec is not None and spec.booking is not outcome_rules.Booking.NONE else None,
    )


@bp.route("/<id:task_id>/outcome", methods=["POST"])
@roles_required(*CONTACT_ROLES)
def outcome(task_id: int):
    task = _cx_task_or_404(task_id)
    values = _cx_form_values()
    back_to_detail = values.get("from") == "detail"
    code = (values.get("outcome") or "").strip()
    state = OutcomeFormState(outcome=code or None, values=values)
    try:
        row = _cx_record(task, values)
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
    return _cx_contact_page(task.customer_id, states={task.id: state}, extra=[task], status=status)


# === The contact's outcomes, all rows at once (issue 10 item 1) ========================
#
# GET /tasks/contact/<customer_id>/outcomes: the outcome panel (htmx; it reloads itself
# on tasks-changed while nothing is chosen in it, so that what is typed during a call is
# never lost). POST: every row with a chosen outcome is recorded, each with its own
# script version (``t<id>-script_version_id``), in one transaction: a row that fails
# (invalid 422, closed meanwhile 409, someone else's 403) leaves nothing recorded, and
# the panel comes back with every row's input and each row's errors. Rows without a
# chosen outcome are left alone. htmx: the panel (200, HX-Trigger tasks-changed, then
# "next contact" once nothing is left to record), or the panel with the errors; plain:
# 303 to the contact page, or the page again with the errors.

_ROW_KEY = re.compile(r"^t([1-9][0-9]{0,9})-(.+)$")


def _cx_posted_rows() -> dict[int, dict]:
    """The posted rows by task id: ``t12-outcome`` → ``{12: {"outcome": …}}``."""
    rows: dict[int, dict] = {}
    for key, value in _cx_form_values().items():
        m = _ROW_KEY.match(key)
        if m and int(m.group(1)) <= MAX_ID:
            rows.setdefault(int(m.group(1)), {})[m.group(2)] = value
    return rows


def _cx_outcomes_fragment(panel: OutcomePanel, status: int = 200, headers: dict | None = None, *, timeline=None):
    """The outcome panel; with ``timeline``, the page's recent contacts too (out of band)."""
    body = flask.render_template(
        "contact/_outcomes.html", outcome_panel=panel, c=panel.customer, now=utcnow(), oob_timeline=timeline
    )
    return flask.Response(body, status, headers or {})


def _cx_customer_or_404(customer_id: int):
    customer = customer_service.load_profile(db.session, customer_id, now=utcnow())
    if customer is None:
        flask.abort(
            404, description=flask_babel.gettext("There is no customer with the id %(id)d.", id=customer_id)
        )
    return customer.customer


@bp.route("/contact/<id:customer_id>/outcomes", methods=["GET", "POST"])
@roles_required(*CONTACT_ROLES)
def outcomes(customer_id: int):
    if flask.request.method == "GET":
        if not is_htmx():
            return flask.redirect(flask.url_for("contact.index", customer_id=customer_id, **carried_filter_args()))
        customer = _cx_customer_or_404(customer_id)
        return _cx_outcomes_fragment(_cx_outcome_panel(customer, task_service.open_tasks_of(db.session, customer_id)))

    user = _cx_user()
    tasks = task_service.open_tasks_of(db.session, customer_id)
    by_id = {t.id: t for t in tasks}
    posted = _cx_posted_rows()
    chosen = {tid: v for tid, v in posted.items() if (v.get("outcome") or "").strip()}
    if not chosen:
        customer = _cx_customer_or_404(customer_id)
        if not tasks:
            flask.abort(409, description=flask_babel.gettext("This customer has no open task left."))
        if not any(outcome_service.can_record(user, t) for t in tasks):
            flask.abort(
                403,
                description=flask_babel.gettext(
                    "These tasks are assigned to someone else; only they or a care manager can record on them."
                ),
            )
        return _cx_outcomes_refused(
            customer_id, {}, [], [flask_babel.gettext("Choose an outcome for at least one task.")], 422
        )

    order = {t.id: i for i, t in enumerate(tasks)}
    states: dict[int, OutcomeFormState] = {}
    statuses: list[int] = []
    shown_again: list = []
    loose: list[str] = []
    recorded: list[tuple] = []
    for tid in sorted(chosen, key=lambda i: (order.get(i, len(order)), i)):
        values = chosen[tid]
        code = values["outcome"].strip()
        state = OutcomeFormState(outcome=code, values=values)
        states[tid] = state
        task = by_id.get(tid) or task_service.get_task(db.session, tid)
        if task is None or task.customer_id != customer_id:  # a stale or forged row: said above the rows
            loose.append(flask_babel.gettext("This task is not one of this customer's: reload the page."))
            statuses.append(422)
            continue
        try:
            row = _cx_record(task, values)
        except outcome_rules.OutcomeInvalid as exc:
            state.errors = {k: _cx_t(e.template, **e.params) for k, e in exc.errors.items()}
            statuses.append(422)
        except outcome_service.OutcomeRefused as exc:
            state.form_errors = [translated(exc)]
            statuses.append(exc.status)
            shown_again.append(tid)
        except _ServiceError as exc:
            state.form_errors = [translated(exc)]
            statuses.append(422)
        else:
            recorded.append((task, row))

    if statuses:  # one transaction: nothing of this post is kept
        discard()
        status = 422 if 422 in statuses else max(statuses)
        n = len(statuses)
        message = flask_babel.ngettext(
            "Nothing was recorded: %(num)d row needs your attention (marked below).",
            "Nothing was recorded: %(num)d rows need your attention (marked below).",
            n,
        )
        return _cx_outcomes_refused(customer_id, states, shown_again, [message, *loose], status)

    summary = "; ".join(
        f"{task_type_label(task.type)}: {outcome_label(task.type, row.outcome)}" for task, row in recorded
    )
    message = flask_babel.gettext("Recorded: %(outcomes)s.", outcomes=summary)
    if is_htmx():
        customer = _cx_customer_or_404(customer_id)
        panel = _cx_outcome_panel(customer, task_service.open_tasks_of(db.session, customer_id), message=message)
        timeline = task_service.timeline(db.session, customer_id, limit=RECENT_TIMELINE)
        # ``outcomes``: the panel that fired it is already fresh (it must not reload over its
        # own "Recorded: …" message); the call area and other sections refresh on it.
        return _cx_outcomes_fragment(
            panel, 200, tasks_changed_header(customer=customer_id, outcomes=True), timeline=timeline
        )
    flask.flash(message, "success")
    return flask.redirect(flask.url_for("contact.index", customer_id=customer_id, **carried_filter_args()), code=303)


def _cx_outcomes_refused(customer_id: int, states: dict, shown_again: list[int], form_errors: list[str], status: int):
    """The outcome panel again (htmx) or the contact page, with what was typed in every row
    and each row's errors; a task closed meanwhile stays in view with its refusal."""
    extra = [t for t in (task_service.get_task(db.session, tid) for tid in shown_again) if t is not None]
    if is_htmx():
        customer = _cx_customer_or_404(customer_id)
        panel = _cx_outcome_panel(
            customer, task_service.open_tasks_of(db.session, customer_id), states=states, extra=extra,
            form_errors=form_errors,
        )  # fmt: skip
        return _cx_outcomes_fragment(panel, status)
    return _cx_contact_page(customer_id, states=states, extra=extra, form_errors=form_errors, status=status)
