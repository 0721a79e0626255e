"""Complaints (R19, R20): open, take a step, the call-back, lists, overdue notices, the KPI.

The rules are care/domain/complaints.py; here they meet the database. Services flush,
never commit.

- **Opening.** By hand (:func:`open_manual`): the customer's own complaint, from their
  contact or customer page, by a care specialist, who fills the form (step 1) as it is
  opened. From a survey response (:func:`open_from_response`, R19): once per response
  (``survey_response_id`` is unique), naming the items at or below the threshold; its form
  waits for a specialist.
- **Steps** (:func:`take_step`): the domain checks order, role and input; refused with a
  :class:`ComplaintRefused` whose status is 403 (wrong role), 409 (out of order, closed, no
  call yet) or 422 (bad input). Each step is a ``ComplaintStep`` row (who, when, text,
  outcome, its deadline) and an audit entry.
- **The call-back (step 6)** is a real call through the calling module
  (:func:`start_callback`): a ``CallAttempt`` without a task, linked to the complaint by a
  ``ComplaintCall`` row. It has no
  ``call_attempt_tasks`` row, so it counts for no care task: the R13 budgets and slots,
  the fallbacks, the KPIs and the insurance sample (all read attempts through that link)
  never see it; the provider, the webhooks, the live panel and the recording are the
  same. Step 6 is refused until a call-back of this round (started after step 5) reached
  the customer. The customer's "no calls" flag refuses the call-back as it refuses any call.
- **Overdue notices** (:func:`notify_overdue`, run by the sweep: the scheduler thread and
  `care sweep`): for each open complaint whose waiting step passed its deadline, the
  step's owners (the users of its role; steps 1 and 8: the specialist who opened it when
  there is one) and every care manager get a ``ComplaintNotice`` (shown in the app) and,
  when they have an e-mail address, an e-mail in the outbox — once per complaint, round
  (reopenings) and step (unique key; the outbox key too).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from care.domain import N_
from care.domain import complaints as rules
from care.domain import kpis as kpi_rules
from care.domain.roles import Role
from care.domain.settings import Settings
from care.messaging import outbox
from care.models import (
    CallAttempt,
    Complaint,
    ComplaintCall,
    ComplaintNotice,
    ComplaintStep,
    Customer,
    User,
    UserRole,
    Vehicle,
)
from care.services import Actor, ServiceError, audit
from care.services import calls as call_service
from care.services.settings import load_settings

# The statuses of `care complaints --status` and the list pages.
OPEN, OVERDUE, CLOSED = "open", "overdue", "closed"
STATUSES = (OPEN, OVERDUE, CLOSED)


class ComplaintRefused(ServiceError):
    """Nothing was written: ``status`` 403 (not yours), 409 (the state), 422 (the input)."""

    def __init__(self, template: str, *, status: int = 422, code: str = "invalid", field: str | None = None, **params):
        self.status = status
        self.code = code
        super().__init__(template, field=field, **params)


_STATUS_OF = {
    rules.WRONG_ROLE: 403,
    rules.CLOSED: 409,
    rules.OUT_OF_ORDER: 409,
    rules.NO_CALL: 409,
}
_FIELD_OF = {rules.TEXT_MISSING: "text", rules.TEXT_TOO_LONG: "text", rules.BAD_OUTCOME: "outcome", rules.NO_HANDLER: "handler"}


def _refused(exc: rules.StepRefused) -> ComplaintRefused:
    return ComplaintRefused(
        exc.template, status=_STATUS_OF.get(exc.code, 422), code=exc.code, field=_FIELD_OF.get(exc.code), **exc.params
    )


# --- who sees what ------------------------------------------------------------------------


def _roles(user) -> set[str]:
    return {str(r) for r in user.roles}


def sees_all(user) -> bool:
    """The managers and the step takers see every complaint; a consultant only those
    dispatched to them."""
    return bool(_roles(user) & {r.value for r in rules.STEP_TAKERS | rules.MANAGERS})


def may_see(user, complaint: Complaint) -> bool:
    return sees_all(user) or (complaint.handler_id is not None and complaint.handler_id == user.id)


def may_take(user, complaint: Complaint) -> bool:
    """Whether the form of the waiting step is the user's (the page shows it only then;
    :func:`take_step` checks again)."""
    if complaint.closed_at is not None:
        return False
    return bool(_roles(user) & {r.value for r in rules.STEPS[rules.Step(complaint.step)].roles})


def get(session: Session, complaint_id: int) -> Complaint | None:
    return session.scalar(
        select(Complaint)
        .where(Complaint.id == complaint_id)
        .options(
            joinedload(Complaint.customer),
            joinedload(Complaint.vehicle),
            joinedload(Complaint.opened_by),
            joinedload(Complaint.handler),
            selectinload(Complaint.steps).joinedload(ComplaintStep.user),
            selectinload(Complaint.steps).joinedload(ComplaintStep.attempt),
        )
    )


# --- opening ------------------------------------------------------------------------------


def _clean_text(text: str | None, field: str, *, required: bool) -> str | None:
    stripped = (text or "").strip()
    if required and not stripped:
        raise ComplaintRefused(N_("Describe the complaint: what happened, in the customer's words."), field=field)
    if len(stripped) > rules.MAX_TEXT:
        raise ComplaintRefused(N_("The text is too long: at most %(max)d characters."), field=field, max=rules.MAX_TEXT)
    return stripped or None


def _kind(kind: str | None) -> str:
    value = (kind or "").strip()
    if value not in {k.value for k in rules.Kind}:
        raise ComplaintRefused(N_("Choose whether it is a sales or a service complaint."), field="kind")
    return value


def _new(
    session: Session, customer: Customer, *, source: str, now: datetime, settings: Settings, **values
) -> Complaint:
    due = rules.loop_due(now, settings.complaint_close_hours)
    complaint = Complaint(
        customer_id=customer.id, source=source, opened_at=now, step_started_at=now, step_due_at=due, due_at=due,
        step=int(rules.Step.FORM), reopened=0, **values,
    )  # fmt: skip
    session.add(complaint)
    session.flush()
    return complaint


def open_manual(
    session: Session,
    customer: Customer,
    *,
    user,
    description: str | None,
    kind: str | None,
    vehicle_id: int | None = None,
    now: datetime,
    settings: Settings,
    actor: Actor,
) -> Complaint:
    """The customer's own complaint, its form filled (step 1) by a care specialist."""
    if not (_roles(user) & {r.value for r in rules.OPENERS}):
        raise ComplaintRefused(
            N_("A complaint is opened by a care specialist, who fills its form (step 1)."), status=403, code="wrong_role"
        )
    text = _clean_text(description, "description", required=True)
    chosen_kind = _kind(kind)
    if vehicle_id is not None:
        vehicle = session.get(Vehicle, vehicle_id)
        if vehicle is None or vehicle.customer_id != customer.id:
            raise ComplaintRefused(N_("That vehicle is not this customer's."), field="vehicle")
    complaint = _new(
        session, customer, source=rules.Source.MANUAL, now=now, settings=settings,
        vehicle_id=vehicle_id, description=text, kind=chosen_kind, opened_by_id=user.id,
    )  # fmt: skip
    _record_step(session, complaint, rules.Step.FORM, user=user, actor=actor, text=text, outcome=rules.Outcome.DONE,
                 now=now, settings=settings)  # fmt: skip
    audit.record(
        session, actor=actor, action="complaint.open", now=now, object_type="complaint", object_id=complaint.id,
        detail={"source": complaint.source, "kind": complaint.kind, "customer_id": customer.id},
    )  # fmt: skip
    return complaint


def open_from_survey(
    session: Session,
    *,
    customer: Customer,
    response_id: int,
    low_items: list[dict],
    kind: str,
    vehicle_id: int | None,
    now: datetime,
    settings: Settings,
) -> Complaint | None:
    """R19: the complaint a response with low items opens, once per response (the existing
    one when it was opened already); None without low items. Its form (step 1) waits for
    a care specialist."""
    if not low_items:
        return None
    existing = session.scalar(select(Complaint).where(Complaint.survey_response_id == response_id))
    if existing is not None:
        return existing
    complaint = _new(
        session, customer, source=rules.Source.SURVEY, now=now, settings=settings,
        survey_response_id=response_id, low_items=low_items, kind=_kind(kind), vehicle_id=vehicle_id,
    )  # fmt: skip
    audit.record(
        session, actor=Actor.SYSTEM, action="complaint.open", now=now, object_type="complaint", object_id=complaint.id,
        detail={"source": complaint.source, "response_id": response_id, "items": [i.get("code") for i in low_items]},
    )  # fmt: skip
    return complaint


def open_from_response(session: Session, response, now: datetime) -> Complaint | None:
    """R19 for a completed survey response: a complaint when an answered item is at or
    below ``complaint_score_threshold`` (on the 1–7 reference scale, mapped to the
    template's scale by care.domain.surveys), naming those items with their scores; once
    per response (the existing one when opened already); None without a low item. An SSI
    is a sales complaint, any other template (the CSI) a service one."""
    from care.domain import surveys as survey_rules

    settings = load_settings(session)
    version = response.version
    scale = survey_rules.Scale(version.scale_min, version.scale_max)
    by_item = {a.item_id: a for a in response.answers}
    scores: dict[str, tuple] = {}
    for item in version.items:
        answer = by_item.get(item.id)
        score = answer.score if answer is not None and not answer.unanswered else None
        scores[item.code] = (item, score)
    scored = [
        survey_rules.ScoredItem(code, item.factor.code if item.factor else None, item.weight, score)
        for code, (item, score) in scores.items()
    ]
    low = survey_rules.low_items(scored, settings.complaint_score_threshold, scale)
    named = [
        {"code": code, "text": scores[code][0].text_zh, "text_en": scores[code][0].text_en, "score": scores[code][1]}
        for code in low
    ]
    kind = rules.Kind.SALES if response.template.code == "ssi" else rules.Kind.SERVICE
    return open_from_survey(
        session, customer=response.customer, response_id=response.id, low_items=named, kind=kind,
        vehicle_id=response.vehicle_id, now=now, settings=settings,
    )  # fmt: skip


# --- steps --------------------------------------------------------------------------------


def state_of(complaint: Complaint) -> rules.LoopState:
    return rules.LoopState(
        step=complaint.step, closed=complaint.closed_at is not None, opened_at=complaint.opened_at,
        dispatched_at=complaint.dispatched_at, reopened=complaint.reopened,
    )  # fmt: skip


def callbacks_of_round(session: Session, complaint: Complaint) -> list[CallAttempt]:
    """The call-backs placed since the waiting step began (step 6: since step 5)."""
    return list(
        session.scalars(
            select(CallAttempt)
            .join(ComplaintCall, ComplaintCall.attempt_id == CallAttempt.id)
            .where(ComplaintCall.complaint_id == complaint.id, CallAttempt.started_at >= complaint.step_started_at)
            .order_by(CallAttempt.started_at, CallAttempt.id)
        )
    )


def _reached(attempts: list[CallAttempt]) -> CallAttempt | None:
    return next((a for a in reversed(attempts) if a.answered), None)


def _record_step(
    session: Session, complaint: Complaint, step: int, *, user, actor: Actor, text: str | None, outcome: str,
    now: datetime, settings: Settings, attempt_id: int | None = None,
) -> ComplaintStep:  # fmt: skip
    """Write the step taken and move the complaint on (the domain's transition)."""
    row = ComplaintStep(
        complaint_id=complaint.id, step=int(step), round=complaint.reopened, user_id=getattr(user, "id", None),
        actor=actor.name, taken_at=now, due_at=complaint.step_due_at, text=text, outcome=str(outcome),
        attempt_id=attempt_id,
    )  # fmt: skip
    session.add(row)
    move = rules.advance(state_of(complaint), int(step), str(outcome), now)
    complaint.step = move.step
    complaint.closed_at = move.closed_at
    complaint.reopened = move.reopened
    complaint.dispatched_at = move.dispatched_at
    complaint.step_started_at = now
    complaint.step_due_at = rules.step_due(
        move.step, complaint.opened_at, move.dispatched_at,
        close_hours=settings.complaint_close_hours, return_hours=settings.complaint_return_hours,
    )  # fmt: skip
    session.flush()
    return row


def take_step(
    session: Session,
    complaint: Complaint,
    step: int,
    *,
    user,
    text: str | None = "",
    outcome: str = rules.Outcome.DONE,
    kind: str | None = None,
    handler_id: int | None = None,
    handler_name: str | None = None,
    now: datetime,
    settings: Settings,
    actor: Actor,
) -> ComplaintStep:
    """Take ``step`` of the complaint as ``user``, or raise :class:`ComplaintRefused`.

    Step 1 (a complaint from a survey) takes the description as its text and the kind;
    step 4 the consultant (``handler_id``, a consultant user) or the advisor's name; step 6
    the satisfaction (``outcome``) after a call-back that reached the customer."""
    session.execute(  # two clicks at once: the second waits, then is out of order
        Complaint.__table__.update().where(Complaint.__table__.c.id == complaint.id).values(id=complaint.id)
    )
    session.refresh(complaint)
    handler = None
    name = (handler_name or "").strip()[:120] or None
    attempts = callbacks_of_round(session, complaint) if step == rules.Step.CALLBACK else []
    reached = _reached(attempts)
    try:
        rules.check_step(
            state_of(complaint), step, user.roles, text=text or "", outcome=outcome,
            reached_call=reached is not None, has_handler=handler_id is not None or name is not None,
        )  # fmt: skip
    except rules.StepRefused as exc:
        raise _refused(exc) from None
    if step == rules.Step.DISPATCH and handler_id is not None:
        handler = session.get(User, handler_id)
        if handler is None or not handler.active or Role.CONSULTANT not in handler.roles:
            raise ComplaintRefused(N_("Choose a consultant from the list."), field="handler")
    clean = (text or "").strip() or None
    if step == rules.Step.FORM:
        complaint.kind = _kind(kind) if kind else complaint.kind
        complaint.description = clean
        complaint.opened_by_id = complaint.opened_by_id or user.id
    if step == rules.Step.DISPATCH:
        complaint.handler_id = handler.id if handler is not None else None
        complaint.handler_name = (handler.label if handler is not None else name)
    row = _record_step(
        session, complaint, step, user=user, actor=actor, text=clean, outcome=outcome, now=now, settings=settings,
        attempt_id=reached.id if reached is not None else None,
    )  # fmt: skip
    audit.record(
        session, actor=actor, action="complaint.step", now=now, object_type="complaint", object_id=complaint.id,
        detail={"step": int(step), "outcome": str(outcome), "round": row.round, "late": bool(row.due_at and now > row.due_at)},
    )  # fmt: skip
    return row


# --- the call-back (step 6) ---------------------------------------------------------------


def callback_refusal(session: Session, complaint: Complaint, *, user) -> call_service.CallRefused | None:
    """Why the user may not call the customer back now (None: they may)."""
    if complaint.closed_at is not None or complaint.step != rules.Step.CALLBACK:
        return call_service.CallRefused(
            call_service.CLOSED, N_("The call-back is step 6: this complaint is not waiting for it.")
        )
    if not may_take(user, complaint):
        return call_service.CallRefused(call_service.NOT_YOURS, N_("The call-back is the care manager's (step 6)."))
    customer = complaint.customer
    if customer.no_call:
        return call_service.CallRefused(
            call_service.NO_CALL,
            N_("The customer asked not to be called (set by %(by)s on %(at)s): no call is placed."),
            by=customer.no_call_by or "?", at=customer.no_call_at,
        )  # fmt: skip
    if not (customer.mobile or customer.phone2):
        return call_service.CallRefused(call_service.NO_NUMBER, N_("The customer has no valid phone number."))
    if any(not call_service.is_finished(a) for a in callbacks_of_round(session, complaint)):
        return call_service.CallRefused("call_in_progress", N_("A call is in progress for this complaint."))
    return None


def start_callback(
    session: Session, complaint: Complaint, *, user, now: datetime, provider_name: str = "sim",
    caller_id: str | None = None,
) -> CallAttempt:  # fmt: skip
    """The attempt of a call-back (the view commits, then rings: care.services.calls.originate)."""
    session.execute(
        Complaint.__table__.update().where(Complaint.__table__.c.id == complaint.id).values(id=complaint.id)
    )
    refusal = callback_refusal(session, complaint, user=user)
    if refusal is not None:
        raise refusal
    customer = complaint.customer
    attempt = CallAttempt(
        task_id=None, customer_id=customer.id, user_id=user.id, provider=provider_name,
        to_number=customer.mobile or customer.phone2, agent_extension=user.extension, caller_id=caller_id,
        status="requested", rank=0, sequence=-1, counted=True, started_at=now,
    )  # fmt: skip
    session.add(attempt)
    session.flush()
    session.add(ComplaintCall(attempt_id=attempt.id, complaint_id=complaint.id))
    session.flush()
    return attempt


# --- lists --------------------------------------------------------------------------------


def _waiting_for(user) -> list:
    """Conditions of the open complaints whose waiting step is the user's."""
    roles = _roles(user)
    steps = [int(d.step) for d in rules.STEPS.values() if roles & {r.value for r in d.roles}]
    return [Complaint.closed_at.is_(None), Complaint.step.in_(steps or [-1])]


def _status_conditions(status: str | None, now: datetime) -> list:
    """open: not closed; overdue: not closed and past the waiting step's deadline; closed."""
    if status == OPEN:
        return [Complaint.closed_at.is_(None)]
    if status == OVERDUE:
        return [Complaint.closed_at.is_(None), Complaint.step_due_at < now]
    if status == CLOSED:
        return [Complaint.closed_at.is_not(None)]
    return []


def statement(user, *, status: str | None = None, now: datetime, mine: bool = False) -> Select:
    """The complaints the user sees (newest first), by status; ``mine``: waiting for them."""
    query = select(Complaint).options(joinedload(Complaint.customer), joinedload(Complaint.handler))
    if not sees_all(user):
        query = query.where(Complaint.handler_id == user.id)
    if mine:
        query = query.where(*_waiting_for(user))
    query = query.where(*_status_conditions(status, now))
    if mine or status in (OPEN, OVERDUE):
        return query.order_by(Complaint.step_due_at, Complaint.id)
    return query.order_by(Complaint.opened_at.desc(), Complaint.id.desc())


def my_step_count(session: Session, user) -> int:
    """The complaints waiting for the user (the navigation's count)."""
    if not (_roles(user) & {r.value for r in rules.STEP_TAKERS}):
        return 0
    return session.scalar(select(func.count()).select_from(Complaint).where(*_waiting_for(user))) or 0


def notices_of(session: Session, user, *, limit: int = 20) -> list[ComplaintNotice]:
    """The user's overdue notices of complaints still open, newest first."""
    return list(
        session.scalars(
            select(ComplaintNotice)
            .join(Complaint, Complaint.id == ComplaintNotice.complaint_id)
            .where(ComplaintNotice.user_id == user.id, Complaint.closed_at.is_(None))
            .options(joinedload(ComplaintNotice.complaint).joinedload(Complaint.customer))
            .order_by(ComplaintNotice.created_at.desc(), ComplaintNotice.id.desc())
            .limit(limit)
        )
    )


def consultants(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.CONSULTANT.value, User.active.is_(True))
            .order_by(User.display_name, User.username)
        )
    )


def of_customer(session: Session, customer_id: int) -> list[Complaint]:
    return list(
        session.scalars(
            select(Complaint).where(Complaint.customer_id == customer_id).order_by(Complaint.opened_at.desc())
        )
    )


def export(session: Session, *, status: str | None, now: datetime) -> list[dict]:
    """`care complaints --json` (interfaces.md)."""
    query = select(Complaint, Customer.customer_no).join(Customer, Customer.id == Complaint.customer_id)
    query = query.where(*_status_conditions(status, now))
    rows = []
    for complaint, customer_no in session.execute(query.order_by(Complaint.id)):
        closed = complaint.closed_at is not None
        rows.append({
            "id": complaint.id,
            "customer_no": customer_no,
            "opened_at": complaint.opened_at.isoformat(),
            "step": complaint.step,
            "step_name": rules.STEPS[rules.Step(complaint.step)].name,
            "owner": None if closed else rules.owner_role(complaint.step),
            "step_due_at": None if closed else complaint.step_due_at.isoformat(),
            "closed_at": complaint.closed_at.isoformat() if closed else None,
            "reopened": complaint.reopened,
            "source": complaint.source,
        })  # fmt: skip
    return rows


# --- overdue notices ----------------------------------------------------------------------


def _users_with(session: Session, role: str) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == role, User.active.is_(True))
            .order_by(User.id)
        )
    )


def owners_of(session: Session, complaint: Complaint) -> list[User]:
    """Who is told when the waiting step is overdue: its owners and every care manager."""
    step = rules.Step(complaint.step)
    owners: list[User] = []
    opener = complaint.opened_by
    if step in (rules.Step.FORM, rules.Step.ARCHIVE) and opener is not None and opener.active and (
        Role.SPECIALIST in opener.roles
    ):
        owners = [opener]
    else:
        for role in sorted(r.value for r in rules.STEPS[step].roles):
            owners.extend(_users_with(session, role))
    owners.extend(_users_with(session, Role.CARE_MANAGER.value))
    return list({u.id: u for u in owners}.values())


def notify_overdue(session: Session, *, now: datetime, settings: Settings | None = None) -> int:
    """Tell the owners and the care managers of each step that became overdue, once per
    complaint, round and step; returns how many notices were written."""
    due = session.scalars(
        select(Complaint)
        .where(Complaint.closed_at.is_(None), Complaint.step_due_at < now)
        .options(joinedload(Complaint.opened_by), joinedload(Complaint.customer))
        .order_by(Complaint.id)
    ).all()
    tz = ZoneInfo((settings or load_settings(session)).timezone)  # the e-mail's times: the dealer's
    written = 0
    for complaint in due:
        told = set(
            session.scalars(
                select(ComplaintNotice.user_id).where(
                    ComplaintNotice.complaint_id == complaint.id,
                    ComplaintNotice.round == complaint.reopened,
                    ComplaintNotice.step == complaint.step,
                )
            )
        )
        for user in owners_of(session, complaint):
            if user.id in told:
                continue
            message = None
            address = (user.email or "").strip()
            if address:
                step = rules.STEPS[rules.Step(complaint.step)]
                due = complaint.step_due_at.astimezone(tz)
                message = outbox.queue(
                    session, channel="email", to=address, customer_id=None, task_id=None, now=now,
                    key=f"complaint-overdue:{complaint.id}:{complaint.reopened}:{complaint.step}:{user.id}",
                    subject=f"投诉 #{complaint.id} 第{complaint.step}步已超时 / Complaint #{complaint.id}: step {complaint.step} overdue",
                    body=(
                        f"投诉 #{complaint.id}（客户编号 {complaint.customer.customer_no}）的第{complaint.step}步已超过时限"
                        f"（{due:%Y-%m-%d %H:%M}），请尽快处理。\n\n"
                        f"Complaint #{complaint.id} (customer {complaint.customer.customer_no}) is waiting for step "
                        f"{complaint.step} ({step.label}), due {due:%Y-%m-%d %H:%M}."
                    ),
                )  # fmt: skip
            session.add(ComplaintNotice(
                complaint_id=complaint.id, round=complaint.reopened, step=complaint.step, user_id=user.id,
                due_at=complaint.step_due_at, created_at=now, message_id=message.id if message is not None else None,
            ))  # fmt: skip
            written += 1
    session.flush()
    return written


# --- the KPI (R20, R22) -------------------------------------------------------------------


def closed_in_time_rate(session: Session, span: kpi_rules.MonthSpan, settings: Settings, now: datetime) -> kpi_rules.KpiResult:
    """``complaints_closed_in_24h_rate``: of the complaints opened in the month (dealer's
    time zone) and decided by ``now`` (closed, or past their loop deadline), those closed
    within ``complaint_close_hours`` of opening (care.domain.complaints)."""
    decided = or_(Complaint.closed_at <= now, Complaint.due_at < now)
    in_time = and_(Complaint.closed_at.is_not(None), Complaint.closed_at <= Complaint.due_at, Complaint.closed_at <= now)
    row = session.execute(
        select(
            func.count().filter(decided),
            func.count().filter(and_(decided, in_time)),
        ).where(Complaint.opened_at >= span.start, Complaint.opened_at < span.end)
    ).one()
    return kpi_rules.KpiResult("complaints_closed_in_24h_rate", int(row[1] or 0), int(row[0] or 0))


__all__ = [
    "CLOSED", "OPEN", "OVERDUE", "STATUSES", "ComplaintRefused", "callback_refusal", "closed_in_time_rate",
    "export", "get", "may_see", "may_take", "my_step_count", "notify_overdue", "open_from_survey", "open_manual",
    "start_callback", "statement", "take_step",
]  # fmt: skip
