"""R21 – the insurance QA sample: the month's calls, the draw and its top-ups, verdicts,
progress, and what an unfinished sample is short of (domain.md §8).

**The calls of a month** (:func:`month_calls`, the population): every call attempt that

- counts for at least one insurance-renewal task (the link ``call_attempt_tasks``: one
  call of a contact counts for each of its tasks, so a call that settled a maintenance
  reminder and an insurance renewal at once is an insurance call — counted once);
- reached the customer: ``outcome`` ``completed`` (a conversation; a voicemail, no
  answer, busy, rejected, failed or invalid number is not). The seed samples 60 % "of the
  month's callbacks" (当月回访数量) to check that the *reminder* was given, and how: only a
  call in which someone spoke to the customer has a reminder to judge or a recording to
  hear — the unsuccessful attempts are R13's business (attempts, slots, R15);
- counted (a call the provider never placed, or one the specialist hung up before it was
  answered, is no call), and was placed by a user (``user_id``: every call of the app
  and every call recorded by hand has one);
- started in the month, in the dealer's time zone.

Its stratum is the user who placed it (the insurance specialist; a care manager covering
for one is sampled like them). Read by task only through the link, never
``call_attempts.task_id`` alone.

**Draws.** The month's first draw (number 1) draws from every call of the month so far,
with ``insurance_sample_rate`` and a seed (given, or chosen with ``secrets`` and stored);
the draw, its seed and rate and every call it drew from are recorded (``SampleDraw``,
``SampleCall``), with an audit row. Drawing again shows the same sample; calls made after
a draw are not added silently: they wait until someone draws a *top-up* for them — a draw
of its own, with its own seed, from the new calls only, at the month's first rate, so that
each stratum comes to ``sample_size`` of all its calls (care.domain.sampling). The
stored draw can be reproduced at any time (:func:`reproduce`).

Services flush, never commit; refusals write nothing.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Select, and_, case, false, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from care.domain import N_
from care.domain import dates as date_rules
from care.domain import sampling as rules
from care.domain.callstate import CallStatus
from care.domain.settings import Settings
from care.models import CallAttempt, CallAttemptTask, CareTask, SampleCall, SampleDraw, User
from care.services import Actor, ServiceError, audit
from care.services.settings import load_settings

INSURANCE = "insurance_renewal"
REACHED = CallStatus.COMPLETED.value


class SampleRefused(ServiceError):
    """Nothing drawn or judged: ``status`` is the HTTP answer (403 not allowed, 404 no such
    call, 409 the state does not allow it, 422 bad input)."""

    def __init__(self, template: str, *, status: int, code: str, **params):
        self.status, self.code = status, code
        super().__init__(template, **params)


# --- months -----------------------------------------------------------------------------


def month_bounds(month: date, tz: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, at the dealer, in UTC."""
    start = date_rules.start_of_day(month, tz).astimezone(UTC)
    end = date_rules.start_of_day(rules.next_month(month), tz).astimezone(UTC)
    return start, end


def this_month(now: datetime, tz: str) -> date:
    return date_rules.local_today(now, tz).replace(day=1)


def parse_month(text: str | None) -> date:
    """``YYYY-MM`` → its first day, or :class:`SampleRefused` (422) saying why."""
    try:
        return rules.parse_month(text)
    except rules.MonthInvalid as exc:
        raise SampleRefused(exc.template, status=422, code="bad_month", **exc.params) from None


# --- the population -----------------------------------------------------------------------


def month_calls_statement(month: date, tz: str) -> Select:
    """(caller's user id, attempt id) of the month's insurance calls, by attempt id."""
    start, end = month_bounds(month, tz)
    return (
        select(CallAttempt.user_id, CallAttempt.id)
        .join(CallAttemptTask, CallAttemptTask.attempt_id == CallAttempt.id)
        .join(CareTask, CareTask.id == CallAttemptTask.task_id)
        .where(
            CareTask.type == INSURANCE,
            CallAttempt.started_at >= start,
            CallAttempt.started_at < end,
            CallAttempt.outcome == REACHED,
            CallAttempt.counted.is_(True),
            CallAttempt.user_id.is_not(None),
        )
        .distinct()
        .order_by(CallAttempt.id)
    )


def month_calls(session: Session, month: date, tz: str) -> dict[int, list[int]]:
    """The month's insurance calls (see the module's docstring) by caller, ids ascending."""
    found: dict[int, list[int]] = defaultdict(list)
    for user_id, attempt_id in session.execute(month_calls_statement(month, tz)):
        found[user_id].append(attempt_id)
    return dict(found)


# --- draws ------------------------------------------------------------------------------------


def draws_of(session: Session, month: date) -> list[SampleDraw]:
    return list(
        session.scalars(
            select(SampleDraw)
            .where(SampleDraw.month == rules.month_text(month))
            .options(joinedload(SampleDraw.drawn_by))
            .order_by(SampleDraw.number, SampleDraw.id)
        )
    )


def _considered(session: Session, month: date) -> dict[int, tuple[int, int, set[int]]]:
    """Per stratum of the month's draws: (calls drawn from, sampled, their attempt ids)."""
    found: dict[int, tuple[int, int, set[int]]] = {}
    rows = session.execute(
        select(SampleCall.specialist_id, SampleCall.attempt_id, SampleCall.sampled)
        .join(SampleDraw, SampleDraw.id == SampleCall.draw_id)
        .where(SampleDraw.month == rules.month_text(month))
        .order_by(SampleCall.id)
    )
    for specialist_id, attempt_id, sampled in rows:
        calls, picked, ids = found.get(specialist_id, (0, 0, set()))
        ids.add(attempt_id)
        found[specialist_id] = (calls + 1, picked + bool(sampled), ids)
    return found


def new_calls(session: Session, month: date, tz: str) -> dict[int, list[int]]:
    """The month's calls that no draw has seen yet (made after the last draw), by caller."""
    seen = {a for _c, _s, ids in _considered(session, month).values() for a in ids}
    fresh = {}
    for user_id, ids in month_calls(session, month, tz).items():
        left = [a for a in ids if a not in seen]
        if left:
            fresh[user_id] = left
    return fresh


def choose_seed() -> int:
    return secrets.randbelow(rules.MAX_SEED + 1)


def draw_sample(
    session: Session,
    month: date,
    *,
    top_up: bool = False,
    seed: int | None = None,
    user: User | None,
    actor: Actor,
    now: datetime,
    settings: Settings | None = None,
) -> SampleDraw:
    """Draw the month's sample (``top_up`` False) or a top-up for the calls made since its
    last draw (True), and record it. ``user`` None is the command line (no role check).

    Refused (:class:`SampleRefused`, nothing written): a user who may not draw (403); a
    month not begun (422); a bad seed (422); the month drawn already when a first draw
    is asked, or not drawn when a top-up is (409, also when someone else drew at the same
    moment); no calls to draw from (409)."""
    if user is not None and not rules.may_draw(user.roles):
        raise SampleRefused(N_("Only the care manager draws the insurance sample."), status=403, code="not_allowed")
    settings = settings or load_settings(session)
    tz = settings.timezone
    label = rules.month_text(month)
    if month > this_month(now, tz):
        raise SampleRefused(
            N_("%(month)s has not begun: there are no calls to sample yet."), status=422, code="future", month=label
        )
    if seed is not None:
        try:
            rules.check_seed(seed)
        except ValueError:
            raise SampleRefused(
                N_("The seed must be a whole number from 0 to %(max)d."), status=422, code="bad_seed", max=rules.MAX_SEED
            ) from None
    earlier = draws_of(session, month)
    if earlier and not top_up:
        first = earlier[0]
        raise SampleRefused(
            N_("The sample of %(month)s was drawn on %(at)s by %(by)s; it is not drawn again."),
            status=409, code="drawn", month=label, at=first.drawn_at, by=drawn_by_name(first),
        )  # fmt: skip
    if top_up and not earlier:
        raise SampleRefused(
            N_("The sample of %(month)s has not been drawn yet: draw it first."), status=409, code="not_drawn", month=label
        )
    considered = _considered(session, month)
    seen = {a for _c, _s, ids in considered.values() for a in ids}
    strata = {}
    for user_id, ids in month_calls(session, month, tz).items():
        left = [a for a in ids if a not in seen]
        if left:
            strata[user_id] = left
    if not strata:
        if top_up:
            raise SampleRefused(
                N_("No call of %(month)s was made after the last draw: there is nothing to top up."),
                status=409, code="no_new_calls", month=label,
            )  # fmt: skip
        raise SampleRefused(
            N_("No insurance-renewal call reached a customer in %(month)s: there is nothing to sample."),
            status=409, code="no_calls", month=label,
        )  # fmt: skip
    rate = earlier[0].rate if earlier else float(settings.insurance_sample_rate)
    seed = choose_seed() if seed is None else seed
    prior = {k: (calls, picked) for k, (calls, picked, _ids) in considered.items()}
    chosen = rules.draw(strata, rate, seed, prior)
    record = SampleDraw(
        month=label,
        number=len(earlier) + 1,
        seed=seed,
        rate=rate,
        drawn_at=now,
        drawn_by_id=user.id if user is not None else None,
        actor=actor.name,
    )
    try:
        with session.begin_nested():  # two draws at once: the second fails here, not later
            session.add(record)
            session.flush()
            session.add_all(
                SampleCall(draw_id=record.id, attempt_id=a, specialist_id=k, sampled=a in set(chosen[k]))
                for k in sorted(strata)
                for a in strata[k]
            )
            session.flush()
    except IntegrityError:
        raise SampleRefused(
            N_("Someone else drew the sample of %(month)s at the same moment: reload the page."),
            status=409, code="drawn", month=label,
        ) from None  # fmt: skip
    audit.record(
        session,
        actor=actor,
        action="sample.top_up" if top_up else "sample.draw",
        object_type="sample_draw",
        object_id=record.id,
        detail={
            "month": label, "number": record.number, "seed": seed, "rate": rate,
            "calls": sum(len(v) for v in strata.values()), "sampled": sum(len(v) for v in chosen.values()),
        },
        now=now,
    )  # fmt: skip
    session.flush()
    return record


def drawn_by_name(draw: SampleDraw) -> str:
    return draw.drawn_by.label if draw.drawn_by is not None else draw.actor


def reproduce(session: Session, draw: SampleDraw) -> dict[int, tuple[int, ...]]:
    """The sample this draw gives when drawn again from its recorded calls, rate and seed
    (and, for a top-up, the month's earlier draws): equal to what it recorded, always."""
    month = rules.parse_month(draw.month)
    prior: dict[int, tuple[int, int]] = {}
    strata: dict[int, list[int]] = defaultdict(list)
    for earlier in draws_of(session, month):
        if earlier.number > draw.number:
            continue
        for call in earlier.calls:
            if earlier.number == draw.number:
                strata[call.specialist_id].append(call.attempt_id)
            else:
                calls, picked = prior.get(call.specialist_id, (0, 0))
                prior[call.specialist_id] = (calls + 1, picked + bool(call.sampled))
    return rules.draw(strata, draw.rate, draw.seed, prior)


def recorded(draw: SampleDraw) -> dict[int, tuple[int, ...]]:
    """The sample as this draw recorded it, in the shape of :func:`reproduce`."""
    found: dict[int, list[int]] = defaultdict(list)
    strata = set()
    for call in draw.calls:
        strata.add(call.specialist_id)
        if call.sampled:
            found[call.specialist_id].append(call.attempt_id)
    return {k: tuple(sorted(found.get(k, ()))) for k in sorted(strata)}


# --- verdicts ---------------------------------------------------------------------------------


def get_sample_call(session: Session, sample_call_id: int) -> SampleCall | None:
    return session.get(SampleCall, sample_call_id)


def record_verdict(
    session: Session,
    call: SampleCall,
    verdict: str | None,
    note: str | None,
    *,
    user: User,
    actor: Actor,
    now: datetime,
) -> SampleCall:
    """The supervisor's verdict (and note) on a sampled call; a later one replaces it and
    both are in the audit trail. Refused: not the care manager (403), a call drawn from but
    not sampled (409), no verdict or a bad one, a missing or too long note (422)."""
    if not rules.may_judge(user.roles):
        raise SampleRefused(N_("Only the care manager gives verdicts on sampled calls."), status=403, code="not_allowed")
    if not call.sampled:
        raise SampleRefused(N_("This call is not in the sample."), status=409, code="not_sampled")
    try:
        chosen = rules.Verdict((verdict or "").strip())
    except ValueError:
        raise SampleRefused(
            N_("Choose a verdict: done to standard, done not to standard or not done."), status=422, code="verdict",
            field="verdict",
        ) from None  # fmt: skip
    text = (note or "").replace("\r\n", "\n").strip()
    if len(text) > rules.MAX_NOTE:
        raise SampleRefused(
            N_("The note may be at most %(max)d characters long."), status=422, code="note", field="note", max=rules.MAX_NOTE
        )
    if chosen in rules.NOTE_REQUIRED and not text:
        raise SampleRefused(N_("Say in the note what was wrong."), status=422, code="note", field="note")
    before = call.verdict
    call.verdict = chosen.value
    call.note = text or None
    call.verified_at = now
    call.verified_by_id = user.id
    audit.record(
        session,
        actor=actor,
        action="sample.verdict",
        object_type="sample_call",
        object_id=call.id,
        detail={"attempt_id": call.attempt_id, "verdict": chosen.value, "before": before, "note": bool(text)},
        now=now,
    )
    session.flush()
    return call


# --- what the page shows ------------------------------------------------------------------------


@dataclass
class Stratum:
    specialist: User
    progress: rules.StratumProgress
    verdicts: dict[str, int] = field(default_factory=dict)


@dataclass
class MonthSample:
    month: date
    rate: float
    target: float
    draws: list[SampleDraw]
    strata: list[Stratum]
    scope: str | int | None  # care.domain.sampling.scope of the user who looks
    has_begun: bool
    has_ended: bool

    @property
    def drawn(self) -> bool:
        return bool(self.draws)

    @property
    def first(self) -> SampleDraw | None:
        return self.draws[0] if self.draws else None

    @property
    def calls(self) -> int:
        return sum(s.progress.calls for s in self.strata)

    @property
    def undrawn(self) -> int:
        return sum(s.progress.undrawn for s in self.strata)

    @property
    def sampled(self) -> int:
        return sum(s.progress.sampled for s in self.strata)

    @property
    def verified(self) -> int:
        return sum(s.progress.verified for s in self.strata)

    @property
    def required(self) -> int:
        return sum(s.progress.required for s in self.strata)

    @property
    def progress(self) -> float | None:
        return self.verified / self.required if self.required else None


def _progress(
    session: Session, month: date, settings: Settings, *, as_of: datetime | None = None
) -> tuple[float, list[SampleDraw], dict[int, rules.StratumProgress], dict[int, dict[str, int]]]:
    """(the month's rate, its draws, progress by specialist, verdict counts by specialist),
    from one grouped query over the sample and the month's calls. ``as_of``: the draws and
    verdicts made up to that instant only (the sample as it stood then)."""
    tz = settings.timezone
    draws = [d for d in draws_of(session, month) if as_of is None or d.drawn_at <= as_of]
    rate = draws[0].rate if draws else float(settings.insurance_sample_rate)
    target = float(settings.insurance_sample_target)
    verified_in_time = SampleCall.verdict.is_not(None)
    if as_of is not None:
        verified_in_time = and_(verified_in_time, SampleCall.verified_at <= as_of)
    counts: dict[int, list[int]] = {}
    verdicts: dict[int, dict[str, int]] = defaultdict(dict)
    draw_ids = [d.id for d in draws]
    seen: set[int] = set()
    if draw_ids:
        rows = session.execute(
            select(
                SampleCall.specialist_id,
                func.count(),
                func.sum(case((SampleCall.sampled, 1), else_=0)),
                func.sum(case((and_(SampleCall.sampled, verified_in_time), 1), else_=0)),
            )
            .where(SampleCall.draw_id.in_(draw_ids))
            .group_by(SampleCall.specialist_id)
        )
        for specialist_id, n, sampled, verified in rows:
            counts[specialist_id] = [int(n), int(sampled or 0), int(verified or 0)]
        for specialist_id, verdict, n in session.execute(
            select(SampleCall.specialist_id, SampleCall.verdict, func.count())
            .where(SampleCall.draw_id.in_(draw_ids), SampleCall.sampled, verified_in_time)
            .group_by(SampleCall.specialist_id, SampleCall.verdict)
        ):
            verdicts[specialist_id][verdict] = int(n)
        seen = set(
            session.scalars(select(SampleCall.attempt_id).where(SampleCall.draw_id.in_(draw_ids)))
        )
    undrawn: dict[int, int] = defaultdict(int)
    total: dict[int, int] = defaultdict(int)
    for user_id, ids in month_calls(session, month, tz).items():
        total[user_id] = len(ids)
        undrawn[user_id] = sum(1 for a in ids if a not in seen)
    progress = {}
    for specialist_id in sorted(set(total) | set(counts)):
        drawn_from, sampled, verified = counts.get(specialist_id, [0, 0, 0])
        progress[specialist_id] = rules.StratumProgress(
            calls=max(total.get(specialist_id, 0), drawn_from),
            undrawn=undrawn.get(specialist_id, 0),
            sampled=sampled,
            verified=verified,
            rate=rate,
            target=target,
        )
    return rate, draws, progress, dict(verdicts)


def month_sample(session: Session, month: date, *, user: User, now: datetime, settings: Settings | None = None) -> MonthSample:
    """The month's sample as ``user`` may see it: every specialist for the managers, only
    their own for an insurance specialist (care.domain.sampling.scope)."""
    settings = settings or load_settings(session)
    seen_scope = rules.scope(user.id, user.roles)
    rate, draws, progress, verdicts = _progress(session, month, settings)
    if seen_scope != rules.EVERYONE:
        progress = {k: v for k, v in progress.items() if k == seen_scope}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(progress))).order_by(User.id))}
    strata = [
        Stratum(users[k], progress[k], verdicts.get(k, {}))
        for k in sorted(progress, key=lambda k: (users[k].label.lower(), k))
    ]
    current = this_month(now, settings.timezone)
    return MonthSample(
        month=month,
        rate=rate,
        target=float(settings.insurance_sample_target),
        draws=draws,
        strata=strata,
        scope=seen_scope,
        has_begun=month <= current,
        has_ended=month < current,
    )


def sampled_calls_statement(month: date, *, scope: str | int | None) -> Select:
    """The month's sampled calls a user of ``scope`` may see, by specialist and call id, with
    what the page shows loaded (the attempt, its customer and tasks, the people)."""
    query = (
        select(SampleCall)
        .join(SampleDraw, SampleDraw.id == SampleCall.draw_id)
        .where(SampleDraw.month == rules.month_text(month), SampleCall.sampled.is_(True))
        .options(
            joinedload(SampleCall.attempt).joinedload(CallAttempt.customer),
            joinedload(SampleCall.attempt).selectinload(CallAttempt.tasks),
            joinedload(SampleCall.specialist),
            joinedload(SampleCall.verified_by),
            joinedload(SampleCall.draw),
        )
        .order_by(SampleCall.specialist_id, SampleCall.attempt_id)
    )
    if scope is None:
        return query.where(false())  # nothing at all
    if scope != rules.EVERYONE:
        query = query.where(SampleCall.specialist_id == scope)
    return query


def may_see_call(user: User, call: SampleCall) -> bool:
    return rules.may_see_stratum(user.id, user.roles, call.specialist_id)


# --- the command line and other readers -------------------------------------------------------


def sample_document(session: Session, month: date, *, settings: Settings | None = None) -> dict:
    """``care sample-insurance --json`` (interfaces.md): ``{"month", "seed", "rate",
    "strata": [{"specialist", "calls", "sampled"}]}`` — ``calls`` the calls drawn from and
    ``sampled`` the attempt ids drawn, over all the month's draws — and beside them
    ``draws`` (each draw: number, seed, when, by whom, its calls and sample),
    ``new_calls`` (made after the last draw, not in the sample: a top-up draws from them)
    and ``verified``. ``seed`` is the first draw's (null: not drawn)."""
    settings = settings or load_settings(session)
    draws = draws_of(session, month)
    names = dict(session.execute(select(User.id, User.username)).all())
    strata: dict[int, dict] = {}
    for draw in draws:
        for call in draw.calls:
            entry = strata.setdefault(
                call.specialist_id,
                {"specialist": names.get(call.specialist_id), "calls": 0, "sampled": [], "verified": 0, "new_calls": 0},
            )
            entry["calls"] += 1
            if call.sampled:
                entry["sampled"].append(call.attempt_id)
                entry["verified"] += call.verdict is not None
    fresh = new_calls(session, month, settings.timezone) if draws else {}
    for user_id, ids in fresh.items():
        entry = strata.setdefault(
            user_id, {"specialist": names.get(user_id), "calls": 0, "sampled": [], "verified": 0, "new_calls": 0}
        )
        entry["new_calls"] = len(ids)
    ordered = [strata[k] for k in sorted(strata, key=lambda k: (str(strata[k]["specialist"]), k))]
    for entry in ordered:
        entry["sampled"].sort()
    return {
        "month": rules.month_text(month),
        "seed": draws[0].seed if draws else None,
        "rate": draws[0].rate if draws else float(settings.insurance_sample_rate),
        "strata": ordered,
        "draws": [
            {
                "number": d.number,
                "seed": d.seed,
                "rate": d.rate,
                "drawn_at": d.drawn_at.isoformat(),
                "drawn_by": d.drawn_by.username if d.drawn_by is not None else d.actor,
                "calls": len(d.calls),
                "sampled": sorted(c.attempt_id for c in d.calls if c.sampled),
            }
            for d in draws
        ],
        "new_calls": sum(len(v) for v in fresh.values()),
        "verified": sum(e["verified"] for e in ordered),
    }


def sample_summary(session: Session, month: date, *, settings: Settings | None = None) -> dict:
    """The month's sample in figures, for the monthly report (interfaces.md
    ``insurance_sample``): the month's calls, the sample it requires, sampled, verified,
    and completion = verified ÷ required (null when nothing is required)."""
    settings = settings or load_settings(session)
    _rate, _draws, progress, _verdicts = _progress(session, month, settings)
    required = sum(p.required for p in progress.values())
    verified = sum(p.verified for p in progress.values())
    return {
        "calls": sum(p.calls for p in progress.values()),
        "required": required,
        "sampled": sum(p.sampled for p in progress.values()),
        "verified": verified,
        "completion": {
            "rate": verified / required if required else None,
            "numerator": verified,
            "denominator": required,
        },
    }


@dataclass(frozen=True)
class UnfinishedSample:
    """The evidence that one specialist's part of a month's sample is unfinished (R21:
    the completion target is not met; R23: "insurance sample short", per item short)."""

    month: str
    specialist_id: int
    specialist: str  # user name
    calls: int  # the specialist's insurance calls of the month
    required: int  # the sample the month asks: ceil(rate × calls), at least 1
    sampled: int  # drawn into the sample
    verified: int  # sampled calls with a verdict
    short: int  # verdicts missing to reach the target (the items short)
    undrawn_attempt_ids: tuple[int, ...]  # calls no draw has seen (no top-up drawn)
    unverified: tuple[tuple[int, int], ...]  # (sample call id, attempt id) sampled, no verdict

    def evidence(self) -> list[dict]:
        """``[{"kind", "id"}]`` as ``care violations --json`` lists evidence: each sampled
        call without a verdict, each call left out of the sample."""
        return [{"kind": "sample_call", "id": sample_id} for sample_id, _a in self.unverified] + [
            {"kind": "call_attempt", "id": attempt_id} for attempt_id in self.undrawn_attempt_ids
        ]


def unfinished_samples(
    session: Session, month: date | str, *, as_of: datetime | None = None, settings: Settings | None = None
) -> list[UnfinishedSample]:
    """Every specialist whose part of the month's sample falls short of the completion
    target (``insurance_sample_target`` of the sample ``insurance_sample_rate`` requires
    of all their calls of the month), with the evidence; by specialist id.

    A violation when the month has ended (domain.md §8: "an unfinished sample at month
    end"): the violations list (issue 12 item 4) asks for months that have ended, and may
    pass ``as_of`` (e.g. the end of the month) to count only the draws and verdicts made
    by then; without it the sample is taken as it stands."""
    month = parse_month(month) if isinstance(month, str) else month
    settings = settings or load_settings(session)
    _rate, draws, progress, _verdicts = _progress(session, month, settings, as_of=as_of)
    short = {k: p for k, p in progress.items() if not p.finished}
    if not short:
        return []
    draw_ids = [d.id for d in draws]
    unverified: dict[int, list[tuple[int, int]]] = defaultdict(list)
    seen: set[int] = set()
    if draw_ids:
        pending = SampleCall.verdict.is_(None)
        if as_of is not None:
            pending = pending | (SampleCall.verified_at > as_of)
        for sample_id, attempt_id, specialist_id in session.execute(
            select(SampleCall.id, SampleCall.attempt_id, SampleCall.specialist_id)
            .where(SampleCall.draw_id.in_(draw_ids), SampleCall.sampled, pending)
            .order_by(SampleCall.id)
        ):
            unverified[specialist_id].append((sample_id, attempt_id))
        seen = set(session.scalars(select(SampleCall.attempt_id).where(SampleCall.draw_id.in_(draw_ids))))
    calls = month_calls(session, month, settings.timezone)
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(list(short)))).all())
    return [
        UnfinishedSample(
            month=rules.month_text(month),
            specialist_id=k,
            specialist=names.get(k, ""),
            calls=p.calls,
            required=p.required,
            sampled=p.sampled,
            verified=p.verified,
            short=p.short,
            undrawn_attempt_ids=tuple(a for a in calls.get(k, []) if a not in seen),
            unverified=tuple(unverified.get(k, [])),
        )
        for k, p in sorted(short.items())
    ]
