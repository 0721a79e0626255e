"""Call scripts (话术, domain.md §4): versions, merge contexts, defaults, outcomes per version.

The API the task pages call:

- ``current_version(session, task_type)`` → the newest ``ScriptVersion`` or None;
- ``merge_context(session, task, *, user=None)`` → the merge-field values of a task (raw
  ``date``/``int``/``str`` values, None where the data lacks one; see
  care/domain/scripts.py for the vocabulary);
- ``render_for_task(session, task, *, version=None, user=None)`` → the script as plain
  text for that task (``""`` when the task type has no script yet). Record
  ``current_version(…).id`` (or the version passed) as ``TaskOutcome.script_version_id``.

``user`` is the person calling (``{specialist_name}``, ``{specialist_extension}``); by
default the task's assignee.

The care manager's side: ``save_version`` (validated; each save a new version number;
the same text as the current version is refused), ``versions``, ``get_version``,
``outcome_stats`` (outcomes per version), ``overview`` (the list page),
``preview`` (a script on a real customer, audited as a customer view) and
``ensure_default_scripts`` (version 1 of a Chinese default for every task type that
has none, and today's default over an earlier one nobody edited; run by ``care
init-db``).

Services flush and never commit; the caller commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from care.domain import N_
from care.domain import scripts as dom
from care.domain.dates import add_months, birthday_in_year, local_date
from care.domain.settings import Settings
from care.domain.task_rules import (
    SERVICE_KINDS,
    TaskType,
    VehicleFacts,
    VisitFacts,
    predict_maintenance,
)
from care.models import (
    AuditLog,
    CareTask,
    Customer,
    Delivery,
    InsurancePolicy,
    Script,
    ScriptVersion,
    ServiceVisit,
    TaskOutcome,
    User,
    Vehicle,
)
from care.models.types import MAX_INTEGER, utcnow
from care.services import Actor, ServiceError, audit
from care.services.settings import load_settings

DEFAULT_NOTE = "系统默认话术"  # the change note of the default version 1 (content, like the body)
MAX_CUSTOMER_REF = 40  # characters: a customer number (Customer.customer_no) or an id
MAX_DB_INT = MAX_INTEGER


class ScriptInvalid(ServiceError):
    """The body has problems (unknown fields, unbalanced braces …); ``problems`` lists
    them with their positions."""

    def __init__(self, problems: tuple[dom.TemplateProblem, ...], more: int = 0):
        count = len(problems) + more
        super().__init__(
            N_("The script has %(count)s problem(s); nothing was saved."), field="body", count=count
        )
        self.problems = problems
        self.more = more


class VersionConflict(ServiceError):
    """Someone saved a newer version while this one was being edited."""

    def __init__(self, current: ScriptVersion):
        super().__init__(
            N_(
                "Version %(version)s was saved while you were editing; your text is kept below. "
                "Compare it with the new version and save again."
            ),
            field="body",
            version=current.version,
        )
        self.current = current


# --- lookups ---------------------------------------------------------------------------


def task_type_of(value: str | TaskType) -> TaskType:
    try:
        return TaskType(value)
    except ValueError:
        raise ServiceError(
            N_("unknown task type “%(value)s”; task types: %(types)s"),
            field="task_type",
            value=str(value),
            types=", ".join(t.value for t in TaskType),
        ) from None


def get_script(session: Session, task_type: str | TaskType) -> Script | None:
    return session.scalar(select(Script).where(Script.task_type == str(task_type)))


def current_version(session: Session, task_type: str | TaskType) -> ScriptVersion | None:
    """The newest version of the task type's script (None: no script yet)."""
    return session.scalar(
        select(ScriptVersion)
        .join(Script, ScriptVersion.script_id == Script.id)
        .where(Script.task_type == str(task_type))
        .order_by(ScriptVersion.version.desc())
        .limit(1)
    )


def versions(session: Session, task_type: str | TaskType) -> list[ScriptVersion]:
    """Every version of the task type's script, newest first (authors loaded)."""
    return list(
        session.scalars(
            select(ScriptVersion)
            .join(Script, ScriptVersion.script_id == Script.id)
            .where(Script.task_type == str(task_type))
            .options(selectinload(ScriptVersion.created_by))
            .order_by(ScriptVersion.version.desc())
        )
    )


def get_version(session: Session, task_type: str | TaskType, number: int) -> ScriptVersion | None:
    return session.scalar(
        select(ScriptVersion)
        .join(Script, ScriptVersion.script_id == Script.id)
        .where(Script.task_type == str(task_type), ScriptVersion.version == number)
    )


def previous_version(session: Session, version: ScriptVersion) -> ScriptVersion | None:
    """The version saved just before ``version`` (None for the first)."""
    return session.scalar(
        select(ScriptVersion)
        .where(ScriptVersion.script_id == version.script_id, ScriptVersion.version < version.version)
        .order_by(ScriptVersion.version.desc())
        .limit(1)
    )


def find_customer(session: Session, ref: str | None) -> Customer | None:
    """A customer by customer number (tried first, as people type it) or by id."""
    ref = (ref or "").strip()
    if not ref or len(ref) > MAX_CUSTOMER_REF:
        return None
    customer = session.scalar(select(Customer).where(Customer.customer_no == ref))
    if customer is None and ref.isascii() and ref.isdigit() and int(ref) <= MAX_DB_INT:
        customer = session.get(Customer, int(ref))
    return customer


# --- merge contexts ---------------------------------------------------------------------


def _first_vehicle(customer: Customer) -> Vehicle | None:
    """The customer's first vehicle as the customer page lists them (latest delivery)."""
    return customer.vehicles[0] if customer.vehicles else None


def _current_policy(session: Session, vehicle: Vehicle | None) -> InsurancePolicy | None:
    """The vehicle's policy with the latest expiry (the one in force or last held)."""
    if vehicle is None:
        return None
    return session.scalar(
        select(InsurancePolicy)
        .where(InsurancePolicy.vehicle_id == vehicle.id)
        .order_by(InsurancePolicy.expiry.desc(), InsurancePolicy.id.desc())
        .limit(1)
    )


def _visits(session: Session, vehicle: Vehicle | None) -> list[ServiceVisit]:
    if vehicle is None:
        return []
    return list(
        session.scalars(
            select(ServiceVisit)
            .where(ServiceVisit.vehicle_id == vehicle.id)
            .order_by(ServiceVisit.date.desc(), ServiceVisit.id.desc())
        )
    )


def _context(
    session: Session,
    settings: Settings,
    *,
    customer: Customer,
    vehicle: Vehicle | None,
    policy: InsurancePolicy | None,
    specialist: User | None,
    now: datetime,
    visits: list[ServiceVisit] | None = None,
) -> dict[str, Any]:
    visits = _visits(session, vehicle) if visits is None else visits
    services = [v for v in visits if v.kind in SERVICE_KINDS]
    return {
        "customer_name": customer.name,
        "salutation": dom.salutation(customer.name),
        "plate": vehicle.plate if vehicle else None,
        "model": vehicle.model if vehicle else None,
        "vin_last6": vehicle.vin[-6:] if vehicle and vehicle.vin else None,
        "delivery_date": vehicle.delivery_date if vehicle else None,
        "mileage": vehicle.mileage if vehicle else None,
        "warranty_end": vehicle.warranty_end if vehicle else None,
        "warranty_km": vehicle.warranty_km if vehicle else None,
        "inspection_due": vehicle.inspection_due if vehicle else None,
        "last_visit_date": visits[0].date if visits else None,
        "last_service_date": services[0].date if services else None,
        "consultant_name": vehicle.consultant.label if vehicle and vehicle.consultant else None,
        "due_date": None,
        "visit_date": visits[0].date if visits else None,
        # an appointment's own (the reminder SMS the day before: care.services.register)
        "appointment_date": None,
        "appointment_time": None,
        "insurer": policy.insurer if policy else None,
        "policy_expiry": policy.expiry if policy else None,
        **_dealer_values(settings, specialist, now),
    }


def _dealer_values(settings: Settings, specialist: User | None, now: datetime) -> dict[str, Any]:
    """The values that are the dealer's, not the customer's: the settings (the dealer's
    name, the service rules), today, the person calling, and the domain's own lists
    (the loss reasons). The same for a task, a customer and the sample preview."""
    return {
        "dealer_name": settings.dealer_name,
        "specialist_name": specialist.label if specialist else None,
        "specialist_extension": specialist.extension if specialist else None,
        "today": local_date(now, settings.timezone),
        "first_service_months": settings.first_service_deadline_months,
        "service_interval_months": settings.maintenance_interval_months,
        "service_interval_km": settings.maintenance_interval_km,
        **dom.fixed_values(),
    }


def merge_context(
    session: Session, task: CareTask, *, user: User | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The merge-field values for ``task``: its customer, its vehicle (else the
    customer's first), its policy (else the vehicle's latest), its deadline as
    ``due_date`` (the dealer's date), its service visit as ``visit_date``; ``user`` (by
    default the assignee) is the one calling. Values are raw; None where unknown."""
    now = now or utcnow()
    settings = load_settings(session)
    vehicle = task.vehicle or _first_vehicle(task.customer)
    policy = task.policy or _current_policy(session, vehicle)
    ctx = _context(
        session,
        settings,
        customer=task.customer,
        vehicle=vehicle,
        policy=policy,
        specialist=user or task.assignee,
        now=now,
    )
    ctx["due_date"] = local_date(task.due_at, settings.timezone)
    if task.visit is not None:
        ctx["visit_date"] = task.visit.date
    if ctx["delivery_date"] is None and task.delivery is not None:
        ctx["delivery_date"] = local_date(task.delivery.delivered_at, settings.timezone)
    return ctx


def _version_of(session: Session, task_type: str, version: ScriptVersion | int | None) -> ScriptVersion | None:
    if isinstance(version, ScriptVersion):
        return version
    if version is None:
        return current_version(session, task_type)
    return get_version(session, task_type, int(version))


def render_for_task(
    session: Session,
    task: CareTask,
    *,
    version: ScriptVersion | int | None = None,
    user: User | None = None,
    now: datetime | None = None,
) -> str:
    """The script for ``task`` as plain text, fields filled (missing ones as 【…】).

    ``version``: a ScriptVersion, a version number of the task type's script, or None
    for the current one. ``""`` when there is no such version (no script yet)."""
    sv = _version_of(session, task.type, version)
    if sv is None:
        return ""
    return dom.render(sv.body, merge_context(session, task, user=user, now=now))


def _preview_due_date(
    task_type: TaskType, settings: Settings, ctx: dict[str, Any], vehicle: Vehicle | None, visits
) -> date | None:
    """The deadline a task of this type would have for this customer (a preview with no
    task): derived from the data where a rule makes it a plain date."""
    if task_type is TaskType.FIRST_SERVICE and ctx["delivery_date"]:
        return add_months(ctx["delivery_date"], settings.first_service_deadline_months)
    if task_type is TaskType.WARRANTY_EXPIRY:
        return ctx["warranty_end"]
    if task_type is TaskType.INSPECTION:
        return ctx["inspection_due"]
    if task_type is TaskType.INSURANCE_RENEWAL:
        return ctx["policy_expiry"]
    if task_type in (TaskType.MAINTENANCE, TaskType.APPOINTMENT) and vehicle is not None:
        facts = VehicleFacts(
            vin=vehicle.vin,
            delivery_date=vehicle.delivery_date,
            mileage=vehicle.mileage,
            visits=tuple(VisitFacts(v.date, v.mileage, v.kind, v.ro_no) for v in visits),
        )
        prediction = predict_maintenance(facts, settings)
        return prediction.due if prediction else None
    return None


@dataclass
class PreviewSource:
    """Where a preview's values came from (shown beside it)."""

    customer: Customer
    vehicle: Vehicle | None
    task: CareTask | None  # the customer's latest task of this type, when there is one


def customer_context(
    session: Session,
    task_type: str | TaskType,
    customer: Customer,
    *,
    user: User | None = None,
    now: datetime,
) -> tuple[dict[str, Any], PreviewSource]:
    """Merge values for a customer: those of the customer's latest task of this type
    when there is one; else the customer's first vehicle and its latest policy, with the
    deadline derived from the data where it is a plain date (first service, warranty,
    inspection, insurance, maintenance)."""
    tt = task_type_of(task_type)
    task = session.scalar(
        select(CareTask)
        .where(CareTask.customer_id == customer.id, CareTask.type == tt.value)
        .order_by(CareTask.due_at.desc(), CareTask.id.desc())
        .limit(1)
    )
    if task is not None:
        ctx = merge_context(session, task, user=user, now=now)
        return ctx, PreviewSource(customer, task.vehicle or _first_vehicle(customer), task)
    settings = load_settings(session)
    vehicle = _first_vehicle(customer)
    ctx = _context(
        session,
        settings,
        customer=customer,
        vehicle=vehicle,
        policy=_current_policy(session, vehicle),
        specialist=user,
        now=now,
    )
    if tt is TaskType.BIRTHDAY and customer.birthday:
        ctx["due_date"] = birthday_in_year(customer.birthday, ctx["today"].year)
    else:
        ctx["due_date"] = _preview_due_date(tt, settings, ctx, vehicle, _visits(session, vehicle))
    return ctx, PreviewSource(customer, vehicle, None)


@dataclass
class Preview:
    pieces: list[dom.Rendered]
    missing: list[str]
    source: PreviewSource | None  # None: sample values, no customer
    version: ScriptVersion | None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)

    @property
    def missing_fields(self) -> list[dom.MergeField]:
        return [dom.BY_NAME[name] for name in self.missing]


def preview(
    session: Session,
    task_type: str | TaskType,
    *,
    body: str,
    customer: Customer | None,
    version: ScriptVersion | None = None,
    user: User | None,
    now: datetime,
    ip: str | None = None,
    audit_once_within: timedelta | None = None,
) -> Preview:
    """``body`` rendered for ``customer`` (audited as a customer view: it shows the
    customer's data), or with sample values when no customer is given.

    ``audit_once_within``: no new audit row when this user's view of this customer was
    recorded that recently (the live preview re-renders as the manager types)."""
    tt = task_type_of(task_type)
    if customer is None:
        # Sample customer data, but the dealer's own values (its name, the settings) are
        # real: what a customer would hear from this dealer.
        ctx, source = dom.sample_context(), None
        dealer = _dealer_values(load_settings(session), user, now)
        if user is None:  # nobody calling: the sample caller
            del dealer["specialist_name"], dealer["specialist_extension"]
        ctx.update(dealer)
    else:
        ctx, source = customer_context(session, tt, customer, user=user, now=now)
        if audit_once_within is None or not _viewed_since(session, user, customer, now - audit_once_within):
            _audit_view(session, tt, customer, version, user=user, now=now, ip=ip)
    return Preview(dom.render_pieces(body, ctx), dom.missing_fields(body, ctx), source, version)


def _viewed_since(session: Session, user: User | None, customer: Customer, since: datetime) -> bool:
    if user is None:
        return False
    return (
        session.scalar(
            select(AuditLog.id)
            .where(
                AuditLog.user_id == user.id,
                AuditLog.action == "customer.view",
                AuditLog.object_type == "customer",
                AuditLog.object_id == str(customer.id),
                AuditLog.at >= since,
            )
            .limit(1)
        )
        is not None
    )


def _audit_view(session, tt, customer, version, *, user, now, ip) -> None:
    audit.record(
        session,
        actor=Actor.of(user, ip) if user else Actor.SYSTEM.at(ip),
        action="customer.view",
        object_type="customer",
        object_id=customer.id,
        detail={"via": "script.preview", "task_type": tt.value, "version": version.version if version else None},
        now=now,
    )
    session.flush()


# --- saving versions --------------------------------------------------------------------


def _clean_title(title: str | None) -> str:
    value = " ".join((title or "").split())
    if not value:
        raise ServiceError(N_("Give the script a title."), field="title")
    if len(value) > dom.MAX_TITLE:
        raise ServiceError(N_("The title may have at most %(max)s characters."), field="title", max=dom.MAX_TITLE)
    return value


def _clean_note(note: str | None) -> str | None:
    value = " ".join((note or "").split())
    if len(value) > dom.MAX_NOTE:
        raise ServiceError(N_("The change note may have at most %(max)s characters."), field="note", max=dom.MAX_NOTE)
    return value or None


def _clean_body(body: str | None) -> str:
    value = dom.normalize_body(body or "")
    if not value.strip():
        raise ServiceError(N_("The script is empty."), field="body")
    if len(value) > dom.MAX_BODY:
        raise ServiceError(N_("The script may have at most %(max)s characters."), field="body", max=dom.MAX_BODY)
    return value


def save_version(
    session: Session,
    task_type: str | TaskType,
    *,
    title: str,
    body: str,
    note: str | None,
    user: User | None,
    now: datetime,
    base_version: int | None = None,
    ip: str | None = None,
) -> ScriptVersion:
    """A new version of the task type's script (the script is created with version 1).

    Refused (ServiceError, ``field`` naming the input): an unknown task type, an empty or
    too long title/body/note, a body with problems (``ScriptInvalid`` listing them with
    positions), a body identical to the current version's ("no change"), and – when
    ``base_version`` (the version the editor started from; 0 for none) is given – a
    current version other than that one (``VersionConflict``: someone saved meanwhile).
    Audited as ``script.save``.
    """
    tt = task_type_of(task_type)
    title_, note_, body_ = _clean_title(title), _clean_note(note), _clean_body(body)
    parsed = dom.parse(body_)
    if parsed.problems:
        raise ScriptInvalid(parsed.problems, parsed.more_problems)
    script = get_script(session, tt)
    current = current_version(session, tt) if script else None
    if base_version is not None and current is not None and current.version != base_version:
        raise VersionConflict(current)
    if current is not None and current.body == body_:
        raise ServiceError(
            N_("No change: the text is the same as version %(version)s, so nothing was saved."),
            field="body",
            version=current.version,
        )
    if script is None:
        script = Script(task_type=tt.value, created_at=now)
        session.add(script)
        session.flush()
    number = (
        session.scalar(select(func.max(ScriptVersion.version)).where(ScriptVersion.script_id == script.id)) or 0
    ) + 1
    sv = ScriptVersion(
        script_id=script.id,
        version=number,
        title=title_,
        body=body_,
        note=note_,
        created_by_id=user.id if user else None,
        created_at=now,
    )
    session.add(sv)
    audit.record(
        session,
        actor=Actor.of(user, ip) if user else Actor.SYSTEM.at(ip),
        action="script.save",
        object_type="script",
        object_id=tt.value,
        detail={"version": number, "fields": list(parsed.fields)},
        now=now,
    )
    session.flush()
    return sv


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:32]


# The default bodies earlier releases wrote (sha256 of the stored text, 32 hex digits), by
# task type. A current version that is one of them and was saved by the system (no user)
# was never edited: ensure_default_scripts replaces it by today's default as a new
# version. Add the digests of today's defaults here when they are changed.
EARLIER_DEFAULTS: dict[str, frozenset[str]] = {
    "first_service": frozenset({"36cf25b92a6167b6a77331ffa5cc594c"}),
    "maintenance": frozenset({"32cea4ef7e91acdb7ebb81cff35ee5b6"}),
    "warranty_expiry": frozenset({"b73194ba63fc2dcc3759545273316e9b"}),
    "inspection": frozenset({"1d26bc54d0452ecaa36e3fe79147e2cf"}),
    "insurance_renewal": frozenset({"570a3f101c9933163abc976339e45ddd"}),
    "birthday": frozenset({"41babd4f95ba90d46e0658e1789696d8"}),
    "delivery_call": frozenset({"f374ac7078a21d8b3afac8b4949d1879"}),
    "delivery_survey": frozenset({"6b08d74e0b3af03bf53fef07a8169da3"}),
    "lapsed_recall": frozenset({"5aa95bea6597549b9062a57747fe0e98"}),
    "service_callback": frozenset({"0520f65bd13ed82be92d035d0d846c8d"}),
    "appointment": frozenset({"d46a63cdf05a3d68d8077c1f0c8d9a8f"}),
}
UPDATED_DEFAULT_NOTE = "系统默认话术（更新）"  # the change note of a default brought up to date


def _update_unedited_defaults(session: Session, *, now: datetime) -> list[str]:
    """A new version with today's default for every script whose current version is an
    earlier default nobody edited; the task types updated, in TaskType order."""
    updated: list[str] = []
    for tt in TaskType:
        current = current_version(session, tt)
        if current is None or current.created_by_id is not None:
            continue
        title, body = dom.DEFAULT_SCRIPTS[tt]
        body = dom.normalize_body(body)
        if current.body == body or _digest(current.body) not in EARLIER_DEFAULTS.get(tt.value, ()):
            continue
        session.add(
            ScriptVersion(
                script_id=current.script_id,
                version=current.version + 1,
                title=title,
                body=body,
                note=UPDATED_DEFAULT_NOTE,
                created_by_id=None,
                created_at=now,
            )
        )
        updated.append(tt.value)
    return updated


def ensure_default_scripts(session: Session, *, now: datetime) -> list[str]:
    """Version 1 of the default script (care/domain/scripts.py) for every task type whose
    script has no version yet; the task types it created, in TaskType order. Idempotent:
    a script that has versions is left alone, except that one whose current version is an
    earlier default nobody edited (``EARLIER_DEFAULTS``) gets today's default as a new
    version (the outcomes recorded with the old one keep it)."""
    updated = _update_unedited_defaults(session, now=now)
    have = set(
        session.scalars(
            select(Script.task_type).join(ScriptVersion, ScriptVersion.script_id == Script.id).distinct()
        )
    )
    scripts = {s.task_type: s for s in session.scalars(select(Script))}
    created: list[str] = []
    for tt in TaskType:
        if tt.value in have:
            continue
        title, body = dom.DEFAULT_SCRIPTS[tt]
        script = scripts.get(tt.value)
        if script is None:
            script = Script(task_type=tt.value, created_at=now)
            session.add(script)
            session.flush()
        session.add(
            ScriptVersion(
                script_id=script.id,
                version=1,
                title=title,
                body=dom.normalize_body(body),
                note=DEFAULT_NOTE,
                created_by_id=None,
                created_at=now,
            )
        )
        created.append(tt.value)
    if created or updated:
        detail: dict[str, list[str]] = {"created": created}
        if updated:
            detail["updated"] = updated
        audit.record(
            session, actor=Actor.SYSTEM, action="script.defaults", object_type="script", detail=detail, now=now
        )
    session.flush()
    return created


# --- outcomes per version ----------------------------------------------------------------


@dataclass
class VersionStats:
    """Outcomes recorded with one version (``version`` None: outcomes of tasks of this
    type that recorded no script version)."""

    version: ScriptVersion | None
    tally: dom.VersionTally

    @property
    def by_outcome(self) -> dict[str, int]:
        return self.tally.by_outcome

    @property
    def total(self) -> int:
        return self.tally.total

    @property
    def closing(self) -> int:
        return self.tally.closing

    @property
    def closing_share(self) -> float | None:
        return self.tally.closing_share


@dataclass
class OutcomeStats:
    rows: list[VersionStats]  # newest version first; the no-version row last
    outcomes: list[str] = field(default_factory=list)  # every outcome value seen, sorted

    @property
    def total(self) -> int:
        return sum(r.total for r in self.rows)


def outcome_stats(session: Session, task_type: str | TaskType) -> OutcomeStats:
    """Per version of the task type's script (every version, also those with none): the
    outcomes recorded with it, counted by outcome value, their total and the share that
    closed the task; then the outcomes of this type's tasks that recorded no version."""
    tt = task_type_of(task_type)
    count = func.count(TaskOutcome.id)
    versioned = session.execute(
        select(ScriptVersion.version, TaskOutcome.outcome, TaskOutcome.closes_task, count)
        .join(TaskOutcome, TaskOutcome.script_version_id == ScriptVersion.id)
        .join(Script, ScriptVersion.script_id == Script.id)
        .where(Script.task_type == tt.value)
        .group_by(ScriptVersion.version, TaskOutcome.outcome, TaskOutcome.closes_task)
    ).all()
    unversioned = session.execute(
        select(TaskOutcome.outcome, TaskOutcome.closes_task, count)
        .join(CareTask, TaskOutcome.task_id == CareTask.id)
        .where(CareTask.type == tt.value, TaskOutcome.script_version_id.is_(None))
        .group_by(TaskOutcome.outcome, TaskOutcome.closes_task)
    ).all()
    tallies = dom.tally(list(versioned) + [(None, o, c, n) for o, c, n in unversioned])
    rows = [VersionStats(sv, tallies.get(sv.version) or dom.VersionTally(sv.version)) for sv in versions(session, tt)]
    if None in tallies:
        rows.append(VersionStats(None, tallies[None]))
    outcomes = sorted({o for t in tallies.values() for o in t.by_outcome})
    return OutcomeStats(rows, outcomes)


@dataclass
class ScriptSummary:
    """One row of the scripts page."""

    task_type: TaskType
    current: ScriptVersion | None
    version_count: int
    outcomes: int


def overview(session: Session) -> list[ScriptSummary]:
    """Every task type with its current version, how many versions, and the outcomes
    recorded with any of them – in three queries whatever the number of scripts."""
    scripts = {s.task_type: s for s in session.scalars(select(Script))}
    latest = (
        select(ScriptVersion.script_id, func.max(ScriptVersion.version).label("v"), func.count().label("n"))
        .group_by(ScriptVersion.script_id)
        .subquery()
    )
    current: dict[int, tuple[ScriptVersion, int]] = {
        sv.script_id: (sv, n)
        for sv, n in session.execute(
            select(ScriptVersion, latest.c.n)
            .join(latest, (ScriptVersion.script_id == latest.c.script_id) & (ScriptVersion.version == latest.c.v))
            .options(selectinload(ScriptVersion.created_by))
        )
    }
    outcomes = dict(
        session.execute(
            select(ScriptVersion.script_id, func.count(TaskOutcome.id))
            .join(TaskOutcome, TaskOutcome.script_version_id == ScriptVersion.id)
            .group_by(ScriptVersion.script_id)
        ).all()
    )
    out = []
    for tt in TaskType:
        script = scripts.get(tt.value)
        sv, n = current.get(script.id, (None, 0)) if script else (None, 0)
        out.append(ScriptSummary(tt, sv, n, outcomes.get(script.id, 0) if script else 0))
    return out


# --- one conversation: the script of a contact's call ----------------------------------


def current_versions(session: Session, task_types) -> dict[str, ScriptVersion]:
    """The current version of each of these task types' scripts (types without a script
    are left out), in one query."""
    types = sorted({str(t) for t in task_types})
    if not types:
        return {}
    latest = (
        select(ScriptVersion.script_id, func.max(ScriptVersion.version).label("v"))
        .group_by(ScriptVersion.script_id)
        .subquery()
    )
    rows = session.execute(
        select(Script.task_type, ScriptVersion)
        .join(ScriptVersion, ScriptVersion.script_id == Script.id)
        .join(latest, (ScriptVersion.script_id == latest.c.script_id) & (ScriptVersion.version == latest.c.v))
        .where(Script.task_type.in_(types))
    )
    return {task_type: sv for task_type, sv in rows}


def merge_contexts(
    session: Session,
    tasks: list[CareTask],
    *,
    user: User | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict[int, dict[str, Any]]:
    """:func:`merge_context` of each task, by task id (the same values), in a fixed number
    of queries whatever the number of tasks: the vehicles' visits, their policies, the
    tasks' deliveries and the consultants are each read once for all."""
    now = now or utcnow()
    settings = settings or load_settings(session)
    vehicle_of = {t.id: t.vehicle or _first_vehicle(t.customer) for t in tasks}
    vehicle_ids = sorted({v.id for v in vehicle_of.values() if v is not None})
    visits_of: dict[int, list[ServiceVisit]] = {i: [] for i in vehicle_ids}
    visit_by_id: dict[int, ServiceVisit] = {}
    current_policy: dict[int, InsurancePolicy] = {}
    policy_by_id: dict[int, InsurancePolicy] = {}
    if vehicle_ids:
        for visit in session.scalars(
            select(ServiceVisit)
            .where(ServiceVisit.vehicle_id.in_(vehicle_ids))
            .order_by(ServiceVisit.date.desc(), ServiceVisit.id.desc())
        ):
            visits_of[visit.vehicle_id].append(visit)
            visit_by_id[visit.id] = visit
    policy_ids = sorted({t.policy_id for t in tasks if t.policy_id})
    if vehicle_ids or policy_ids:
        for policy in session.scalars(
            select(InsurancePolicy)
            .where(or_(InsurancePolicy.vehicle_id.in_(vehicle_ids), InsurancePolicy.id.in_(policy_ids)))
            .order_by(InsurancePolicy.expiry.desc(), InsurancePolicy.id.desc())
        ):
            policy_by_id[policy.id] = policy
            current_policy.setdefault(policy.vehicle_id, policy)
    delivery_ids = sorted({t.delivery_id for t in tasks if t.delivery_id})
    deliveries = (
        {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids)))}
        if delivery_ids
        else {}
    )
    consultant_ids = sorted({v.consultant_id for v in vehicle_of.values() if v is not None and v.consultant_id})
    # Into the identity map (held here: it keeps its objects only while referenced), so
    # that ``vehicle.consultant`` asks no query of its own.
    consultants = list(session.scalars(select(User).where(User.id.in_(consultant_ids)))) if consultant_ids else []
    found: dict[int, dict[str, Any]] = {}
    for task in tasks:
        vehicle = vehicle_of[task.id]
        policy = policy_by_id.get(task.policy_id) if task.policy_id else None
        if policy is None and vehicle is not None:
            policy = current_policy.get(vehicle.id)
        ctx = _context(
            session,
            settings,
            customer=task.customer,
            vehicle=vehicle,
            policy=policy,
            specialist=user or task.assignee,
            now=now,
            visits=visits_of.get(vehicle.id, []) if vehicle is not None else [],
        )
        ctx["due_date"] = local_date(task.due_at, settings.timezone)
        if task.visit_id is not None:
            visit = visit_by_id.get(task.visit_id) or task.visit
            ctx["visit_date"] = visit.date if visit is not None else ctx["visit_date"]
        delivery = deliveries.get(task.delivery_id) if task.delivery_id else None
        if ctx["delivery_date"] is None and delivery is not None:
            ctx["delivery_date"] = local_date(delivery.delivered_at, settings.timezone)
        found[task.id] = ctx
    del consultants
    return found


@dataclass
class ContactScriptPart:
    """One task's own part of the contact's script, with the version it came from (the
    version its outcome records)."""

    task: CareTask
    version: ScriptVersion | None  # None: no script for this task type yet
    text: str  # rendered; "" when the script has no own part (or there is no script)


@dataclass
class ContactScript:
    """The script of one call for a contact's tasks (care.domain.scripts.assemble): the
    greeting once, each task's own part in the order of the tasks, the closing once."""

    greeting: str
    parts: list[ContactScriptPart]
    closing: str

    def version_for(self, task_id: int) -> ScriptVersion | None:
        return next((p.version for p in self.parts if p.task.id == task_id), None)


def contact_script(
    session: Session,
    tasks: list[CareTask],
    *,
    user: User | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> ContactScript:
    """The script of a call for ``tasks`` (one customer's, the lead task first): the
    current version of each task type's script, cut and assembled (greeting and closing
    from the first script that has them, normally the lead's) and rendered for each
    task; ``user`` is the person calling. A fixed number of queries whatever the number
    of tasks."""
    if not tasks:
        return ContactScript("", [], "")
    versions = current_versions(session, {t.type for t in tasks})
    contexts = merge_contexts(session, tasks, user=user, now=now, settings=settings)
    chosen = [versions.get(t.type) for t in tasks]
    assembled = dom.assemble([sv.body if sv is not None else None for sv in chosen])

    def rendered(text: str, index: int | None) -> str:
        return dom.render(text, contexts[tasks[index].id]) if index is not None and text else ""

    return ContactScript(
        greeting=rendered(assembled.greeting, assembled.greeting_from),
        parts=[
            ContactScriptPart(task, sv, rendered(own, i))
            for i, (task, sv, own) in enumerate(zip(tasks, chosen, assembled.own, strict=True))
        ],
        closing=rendered(assembled.closing, assembled.closing_from),
    )
