"""Taking a task's survey on the phone, or handing the customer to the IVR (issue 11
items 2 and 3).

The post-delivery survey (R8, ``delivery_survey``: the SSI) and the post-service
callback (R10, ``service_callback``: the CSI) are questionnaires: :func:`survey_for`
reads what the contact page shows (the template version, the items by factor, the
answers so far); :func:`save_phone_answer` stores one item as it is filled (the
response is started on the first answer and resumed after that: a dropped call loses
nothing); :func:`finish_by_hand` completes it and records the task's outcome
(:func:`finish_and_record`: "reached, satisfied", or "reached, has an issue" naming the
items at or below the complaint threshold, R19).

R8 also records whether the consultant's 24 h call (R7) happened within
``delivery_call_check_hours``: :func:`r7_prefill` reads it from the R7 task when that
was done in the app (an answered call or a reached outcome, in time or not); the
specialist confirms or changes it (:func:`set_r7`).

The IVR: :func:`hand_over` (the customer answered and is on the line) writes the
:class:`~care.models.ivr.IvrSurvey` with the items still without an answer; the web
layer commits it and asks the provider (``start_survey``). The provider's answers are
gather events; :func:`apply_gathers` (called by the fold, care.services.call_event_apply,
when it marks them applied) puts each on the response: a key outside the scale, ``*``,
``#`` or none is *unanswered*; an item with an answer already (a duplicate callback,
the specialist's own) is left as it is; once the response was finished by hand, late
answers stay stored events only (counted in ``late_answers``). When every item asked
has its answer the response is finished and the outcome recorded in the name of the
specialist who handed the customer over.

Who may: the task's assignee (anyone on an unassigned task) or a care manager
(care.domain.access.owns_task), on an open task of one of the two types.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from care.domain import N_, survey_input
from care.domain import surveys as survey_rules
from care.domain.callstate import TERMINAL_RANK
from care.domain.task_rules import TaskType, delivery_call_in_time
from care.models import (
    CallAttempt,
    CallAttemptTask,
    CallEvent,
    CareTask,
    SurveyAnswer,
    SurveyResponse,
    SurveyTemplateVersion,
    User,
)
from care.models.ivr import IvrStatus, IvrSurvey
from care.models.survey import AnswerSource, ResponseStatus, SurveyChannel
from care.services import ServiceError, call_event_apply
from care.services import outcomes as outcome_service
from care.services import surveys as survey_service
from care.services.settings import load_settings

log = logging.getLogger("care.surveys")

SURVEY_OF_TASK = {TaskType.DELIVERY_SURVEY.value: "ssi", TaskType.SERVICE_CALLBACK.value: "csi"}
REACHED = (survey_input.REACHED_SATISFIED, survey_input.REACHED_ISSUE)
OUTCOME_SOURCE = "survey"  # TaskOutcome.source of an outcome recorded by finishing a survey


class SurveyRefused(ServiceError):
    """Not allowed at all: ``status`` 403 (someone else's task), 409 (closed, finished,
    no call to hand over) or 422 (nothing to do)."""

    def __init__(self, template: str, *, status: int, **params: Any):
        self.status = status
        super().__init__(template, **params)


def template_code(task: CareTask) -> str | None:
    """The survey template a task takes (``ssi``/``csi``), None for other task types."""
    return SURVEY_OF_TASK.get(task.type)


# --- what the contact page shows ------------------------------------------------------


@dataclass
class ItemRow:
    item: Any  # SurveyItem
    answer: SurveyAnswer | None = None

    @property
    def value(self) -> str:
        """The form's value: the score, ``none`` for unanswered, "" for not yet."""
        if self.answer is None:
            return ""
        return survey_input.UNANSWERED if self.answer.unanswered else str(self.answer.score)


@dataclass
class FactorGroup:
    factor: Any  # SurveyFactor, None for the overall-satisfaction item(s)
    rows: list[ItemRow]


@dataclass
class PhoneSurvey:
    task: CareTask
    version: SurveyTemplateVersion
    response: SurveyResponse | None
    groups: list[FactorGroup]
    can_take: bool  # the user may fill it in (open task, theirs, not finished, no IVR running)
    can_finish: bool = False  # the user may finish it (open task, theirs, answers, not finished)
    r7: bool | None = None  # R8: the answer to show (the response's, else the prefill)
    r7_prefilled: bool = False  # …read from the R7 task, not yet confirmed on the response
    ivr: IvrSurvey | None = None
    ivr_active: bool = False  # the customer is in the IVR now (answers may still come)
    low_codes: set[str] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return self.response is not None and self.response.status == ResponseStatus.COMPLETED.value

    @property
    def rows(self) -> list[ItemRow]:
        return [r for g in self.groups for r in g.rows]

    @property
    def answered(self) -> int:
        return sum(1 for r in self.rows if r.answer is not None)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def is_r8(self) -> bool:
        return self.task.type == TaskType.DELIVERY_SURVEY.value


def ordered_items(version: SurveyTemplateVersion) -> list:
    """The items in the questionnaire's order: by factor, then within it; the overall
    item(s) last (an item's ``position`` counts within its factor)."""
    return sorted(
        version.items,
        key=lambda i: (i.factor is None, i.factor.position if i.factor is not None else 0, i.position, i.id),
    )


def response_of(session, task: CareTask) -> SurveyResponse | None:
    """The task's response (the newest), without starting one."""
    return session.scalars(
        select(SurveyResponse).where(SurveyResponse.task_id == task.id).order_by(SurveyResponse.id.desc()).limit(1)
    ).first()


def ivr_of_response(session, response: SurveyResponse | None) -> IvrSurvey | None:
    if response is None:
        return None
    return session.scalars(
        select(IvrSurvey).where(IvrSurvey.response_id == response.id).order_by(IvrSurvey.id.desc()).limit(1)
    ).first()


# How long after the hand-over the customer counts as in the IVR once the call itself is
# over: with Twilio the specialist's leg (the attempt) ends at the hand-over while the
# customer's leg goes on answering. Not a rule of the business: a technical bound.
IVR_WINDOW = timedelta(minutes=10)


def ivr_is_active(ivr: IvrSurvey | None, now: datetime) -> bool:
    """The customer is in the IVR: handed over, not finished, and the call not over (or
    handed over within :data:`IVR_WINDOW`)."""
    if ivr is None or ivr.status != IvrStatus.RUNNING.value:
        return False
    live = ivr.attempt is None or ivr.attempt.rank < TERMINAL_RANK
    return live or now - ivr.handed_at < IVR_WINDOW


def survey_for(session, task: CareTask, *, user: User, now: datetime) -> PhoneSurvey | None:
    """The questionnaire of ``task`` as the contact page shows it; None for a task type
    without a survey."""
    code = template_code(task)
    if code is None:
        return None
    response = response_of(session, task)
    version = response.version if response is not None else survey_service.current_version(session, code)
    answers = {a.item_id: a for a in response.answers} if response is not None else {}
    groups: list[FactorGroup] = []
    by_factor: dict[int | None, FactorGroup] = {}
    for factor in version.factors:
        by_factor[factor.id] = FactorGroup(factor, [])
        groups.append(by_factor[factor.id])
    for item in ordered_items(version):
        group = by_factor.get(item.factor_id)
        if group is None:  # the overall-satisfaction item: a group of its own, last
            group = by_factor[None] = FactorGroup(None, [])
            groups.append(group)
        group.rows.append(ItemRow(item, answers.get(item.id)))
    groups = [g for g in groups if g.rows]
    if None in by_factor:  # the overall item last
        groups.sort(key=lambda g: g.factor is None)
    ivr = ivr_of_response(session, response)
    active = ivr_is_active(ivr, now)
    finished = response is not None and response.status == ResponseStatus.COMPLETED.value
    survey = PhoneSurvey(
        task=task,
        version=version,
        response=response,
        groups=groups,
        can_take=outcome_service.is_open(task) and outcome_service.can_record(user, task) and not finished and not active,
        ivr=ivr,
        ivr_active=active,
        can_finish=outcome_service.is_open(task) and outcome_service.can_record(user, task) and not finished
        and response is not None and bool(response.answers),
    )
    if survey.is_r8:
        if response is not None and response.r7_call_within_72h is not None:
            survey.r7 = response.r7_call_within_72h
        else:
            survey.r7 = r7_prefill(session, task)
            survey.r7_prefilled = survey.r7 is not None
    if response is not None:
        threshold = load_settings(session).complaint_score_threshold
        scale = survey_service.scale_of(version)
        survey.low_codes = set(survey_rules.low_items(survey_service.scored_items(response), threshold, scale))
    return survey


# --- R8: the consultant's 24 h call (R7) within 72 h -------------------------------------


def r7_task(session, task: CareTask) -> CareTask | None:
    """The R7 post-delivery call of the same delivery (or vehicle)."""
    if task.delivery_id is None and task.vehicle_id is None:
        return None
    q = select(CareTask).where(CareTask.type == TaskType.DELIVERY_CALL.value)
    q = q.where(CareTask.delivery_id == task.delivery_id) if task.delivery_id else q.where(CareTask.vehicle_id == task.vehicle_id)
    return session.scalars(q.order_by(CareTask.id.desc()).limit(1)).first()


def r7_prefill(session, task: CareTask) -> bool | None:
    """Whether the R7 call happened within ``delivery_call_check_hours`` of the delivery,
    as far as the app knows: the times of the R7 task's answered calls and reached
    outcomes; no such time and the R7 task closed (failed, expired) → False; not known
    (no R7 task, no delivery time, still open with nothing) → None."""
    if task.type != TaskType.DELIVERY_SURVEY.value:
        return None
    r7 = r7_task(session, task)
    delivery = task.delivery or (r7.delivery if r7 is not None else None)
    if r7 is None or delivery is None:
        return None
    times = [o.recorded_at for o in r7.outcomes if o.outcome in REACHED]
    times += list(
        session.scalars(
            select(CallAttempt.answered_at)
            .join(CallAttemptTask, CallAttemptTask.attempt_id == CallAttempt.id)
            .where(CallAttemptTask.task_id == r7.id, CallAttempt.answered.is_(True), CallAttempt.answered_at.is_not(None))
        )
    )
    if times:
        return delivery_call_in_time(delivery.delivered_at, times, load_settings(session))
    return None if outcome_service.is_open(r7) else False


# --- taking it on the phone ---------------------------------------------------------------


def _lock(session, task: CareTask, now: datetime) -> None:
    """Take the task's row (PostgreSQL: its lock; SQLite: the write lock) before the
    response is read or started: two answers posted at once (two fast keys, two tabs)
    start one response, not two."""
    session.execute(
        update(CareTask).where(CareTask.id == task.id).values(updated_at=now).execution_options(synchronize_session=False)
    )


def _check_takeable(task: CareTask, user: User) -> str:
    code = template_code(task)
    if code is None:
        raise SurveyRefused(N_("This task has no survey."), status=422)
    if not outcome_service.is_open(task):
        raise SurveyRefused(N_("This task is closed already; its survey can no longer change."), status=409)
    if not outcome_service.can_record(user, task):
        raise SurveyRefused(
            N_("This task is assigned to someone else; only they or a care manager can take its survey."), status=403
        )
    return code


def _latest_answered_attempt(session, task: CareTask) -> CallAttempt | None:
    return session.scalars(
        select(CallAttempt)
        .join(CallAttemptTask, CallAttemptTask.attempt_id == CallAttempt.id)
        .where(CallAttemptTask.task_id == task.id, CallAttempt.answered.is_(True))
        .order_by(CallAttempt.id.desc())
        .limit(1)
    ).first()


def _start(session, task: CareTask, *, user: User, now: datetime, channel: str) -> SurveyResponse:
    """The task's response, started now (with the R7 prefill) or resumed."""
    code = template_code(task)
    response = survey_service.start_or_resume(
        session, template_code=code, customer=task.customer, task=task,
        attempt=_latest_answered_attempt(session, task), channel=channel, user=user, now=now,
    )  # fmt: skip
    if task.type == TaskType.DELIVERY_SURVEY.value and response.r7_call_within_72h is None:
        response.r7_call_within_72h = r7_prefill(session, task)
    return response


def _open_response(session, task: CareTask, *, user: User, now: datetime, channel: str) -> SurveyResponse:
    response = _start(session, task, user=user, now=now, channel=channel)
    if response.status == ResponseStatus.COMPLETED.value:
        raise SurveyRefused(N_("This survey is finished; its answers can no longer change."), status=409)
    if ivr_is_active(ivr_of_response(session, response), now):
        raise SurveyRefused(
            N_("The customer is taking the automated survey now; its answers arrive by themselves."), status=409
        )
    return response


def save_phone_answer(session, task: CareTask, item_code: str, value: Any, *, user: User, now: datetime) -> SurveyAnswer:
    """Store one item typed on the phone form: a score on the scale, or ``none`` (the
    customer did not answer). Raises SurveyRefused, or SurveyError (unknown item, a value
    that is no score: ``field`` = "item"/"score") before anything is written."""
    code = _check_takeable(task, user)
    version = survey_service.current_version(session, code)
    _lock(session, task, now)
    existing = response_of(session, task)
    if existing is not None:
        version = existing.version
    item_code = str(item_code or "").strip()[:40]
    if not any(i.code == item_code for i in version.items):
        raise survey_rules.SurveyError(
            N_("The questionnaire has no item “%(code)s”"), field="item", code=item_code or "—"
        )
    try:
        score = survey_input.parse_typed(value, version.scale_min, version.scale_max)
    except survey_input.ScoreInvalid as exc:
        raise survey_rules.SurveyError(exc.template, field="score", **exc.params) from None
    response = _open_response(session, task, user=user, now=now, channel=SurveyChannel.PHONE.value)
    result = survey_service.save_answer(
        session, response, item_code, score, unanswered=score is None, source=AnswerSource.PHONE.value, now=now
    )
    return result.answer


def set_r7(session, task: CareTask, value: Any, *, user: User, now: datetime) -> bool:
    """R8: the specialist's answer to "did the consultant call within 72 h?" (yes/no)."""
    _check_takeable(task, user)
    if task.type != TaskType.DELIVERY_SURVEY.value:
        raise SurveyRefused(N_("Only the post-delivery survey asks about the consultant's call."), status=422)
    text = str(value or "").strip().lower()
    if text not in ("yes", "no"):
        raise survey_rules.SurveyError(N_("Choose yes or no."), field="r7")
    _lock(session, task, now)
    response = _open_response(session, task, user=user, now=now, channel=SurveyChannel.PHONE.value)
    response.r7_call_within_72h = text == "yes"
    response.updated_at = now
    session.flush()
    return response.r7_call_within_72h


def finish_and_record(
    session, task: CareTask, response: SurveyResponse, *, user: User, now: datetime, note: str | None = None
):
    """Complete ``response`` (its index; R19's hook) and, while the task is open and the
    user may record on it, close the task with "reached, satisfied" or "reached, has an
    issue" (the low items in the note). Returns the TaskOutcome, or None when none was
    recorded (the task closed meanwhile)."""
    survey_service.finish(session, response, user=user, now=now)
    if not outcome_service.is_open(task) or not outcome_service.can_record(user, task):
        return None
    threshold = load_settings(session).complaint_score_threshold
    scale = survey_service.scale_of(response.version)
    low = set(survey_rules.low_items(survey_service.scored_items(response), threshold, scale))
    answers = {a.item_id: a for a in response.answers}
    named = [(i.text_zh, answers[i.id].score) for i in ordered_items(response.version) if i.code in low]
    outcome = survey_input.finish_outcome(named, note)
    return outcome_service.record_outcome(
        session, task, outcome.code, detail={}, note=outcome.note, script_version_id=None,
        user=user, now=now, source=OUTCOME_SOURCE,
    )  # fmt: skip


def finish_by_hand(session, task: CareTask, *, user: User, now: datetime, note: str | None = None):
    """The "Finish survey" button: at least one answer is needed (a customer who answered
    nothing is an outcome of its own: record it in the outcome panel)."""
    _check_takeable(task, user)
    _lock(session, task, now)
    response = response_of(session, task)
    if response is None or not response.answers:
        raise SurveyRefused(
            N_("No item has an answer yet: take at least one, or record the call's outcome instead."), status=422
        )
    if response.status == ResponseStatus.COMPLETED.value:
        raise SurveyRefused(N_("This survey is finished; its answers can no longer change."), status=409)
    if note is not None and len(note) > survey_input.MAX_NOTE:
        raise survey_rules.SurveyError(N_("At most %(max)d characters."), field="note", max=survey_input.MAX_NOTE)
    ivr = ivr_of_response(session, response)
    if ivr is not None and ivr.status == IvrStatus.RUNNING.value:
        ivr.status = IvrStatus.FINISHED.value  # by hand: answers still coming are kept, not applied
        ivr.finished_at = now
    return finish_and_record(session, task, response, user=user, now=now, note=note)


# --- the IVR ------------------------------------------------------------------------------


def live_attempt(session, task: CareTask) -> CallAttempt | None:
    """The task's call in which the customer answered and that has not ended."""
    attempt = _latest_answered_attempt(session, task)
    return attempt if attempt is not None and attempt.rank < TERMINAL_RANK else None


def ivr_offer(session, attempt: CallAttempt, user: User) -> CareTask | None:
    """The survey task of a live answered call the user may hand to the IVR, if any."""
    if attempt is None or not attempt.answered or attempt.rank >= TERMINAL_RANK:
        return None
    for task in attempt.tasks:
        if template_code(task) is None or not outcome_service.is_open(task) or not outcome_service.can_record(user, task):
            continue
        response = response_of(session, task)
        if response is not None and response.status == ResponseStatus.COMPLETED.value:
            continue
        if session.scalar(select(IvrSurvey.id).where(IvrSurvey.attempt_id == attempt.id)) is not None:
            return None
        return task
    return None


def hand_over(session, task: CareTask, *, user: User, now: datetime) -> IvrSurvey:
    """Write the hand-over of the task's live call to the IVR (the caller commits, then
    asks the provider: :func:`provider_items`, :func:`customer_call_id`)."""
    _check_takeable(task, user)
    _lock(session, task, now)
    attempt = live_attempt(session, task)
    if attempt is None:
        raise SurveyRefused(
            N_("The automated survey needs the customer on the line: call, and hand over once they answered."),
            status=409,
        )
    if session.scalar(select(IvrSurvey.id).where(IvrSurvey.attempt_id == attempt.id)) is not None:
        raise SurveyRefused(N_("This call was handed to the automated survey already."), status=409)
    response = _open_response(session, task, user=user, now=now, channel=SurveyChannel.IVR.value)
    answered = {a.item_id for a in response.answers}
    items = [i.code for i in ordered_items(response.version) if i.id not in answered]
    if not items:
        raise SurveyRefused(N_("Every item has its answer: finish the survey."), status=422)
    if response.attempt_id is None:
        response.attempt_id = attempt.id
    ivr = IvrSurvey(
        attempt_id=attempt.id, response_id=response.id, task_id=task.id, items=items,
        status=IvrStatus.RUNNING.value, handed_by_id=user.id, handed_at=now,
    )  # fmt: skip
    session.add(ivr)
    session.flush()
    return ivr


def provider_items(ivr: IvrSurvey) -> list[dict]:
    """What the provider asks, in order: code, the Chinese prompt, the scale."""
    version = ivr.response.version
    by_code = {i.code: i for i in version.items}
    return [
        {"code": code, "prompt": by_code[code].text_zh, "min": version.scale_min, "max": version.scale_max}
        for code in ivr.items
        if code in by_code
    ]


def customer_call_id(session, attempt: CallAttempt) -> str | None:
    """Twilio: the customer's leg (the <Dial>'s child call) from the stored callbacks."""
    for row in session.scalars(
        select(CallEvent).where(CallEvent.attempt_id == attempt.id, CallEvent.provider == "twilio").order_by(CallEvent.id.desc())
    ):
        payload = row.payload or {}
        if payload.get("DialCallSid"):
            return str(payload["DialCallSid"])[:80]
        if payload.get("ParentCallSid") and payload.get("CallSid"):
            return str(payload["CallSid"])[:80]
    return None


def mark_failed(ivr: IvrSurvey, error: str) -> None:
    ivr.status = IvrStatus.FAILED.value
    ivr.error = error[:300]


def next_item(ivr: IvrSurvey | None, after: str | None) -> str | None:
    """The item the IVR asks after ``after`` (the first without it), None at the end."""
    if ivr is None or ivr.status != IvrStatus.RUNNING.value:
        return None
    items = list(ivr.items or [])
    if not after:
        return items[0] if items else None
    if after not in items:
        return None
    at = items.index(after) + 1
    return items[at] if at < len(items) else None


def _digits(row: CallEvent) -> Any:
    payload = row.payload or {}
    return payload.get("Digits") if row.provider == "twilio" else payload.get("digits")


def apply_gathers(session, attempt_id: int, event_ids: list[int] | tuple[int, ...], *, now: datetime) -> int:
    """Put the IVR answers of these stored gather events on the survey of their call;
    returns how many answers were stored. Events for a call with no survey, an item the
    survey did not ask, an item answered already or a finished response change nothing
    (they stay stored)."""
    if not event_ids:
        return 0
    ivr = session.scalars(select(IvrSurvey).where(IvrSurvey.attempt_id == attempt_id)).first()
    if ivr is None or ivr.status == IvrStatus.FAILED.value:
        return 0
    response = ivr.response
    version = response.version
    by_code = {i.code: i for i in version.items}
    stored = 0
    rows = session.scalars(select(CallEvent).where(CallEvent.id.in_(list(event_ids))).order_by(CallEvent.id))
    for row in rows:
        code = (row.payload or {}).get("survey_item")
        if not isinstance(code, str) or code not in by_code or code not in (ivr.items or []):
            log.info("attempt %s: a survey answer for an item the survey did not ask (event %s)", attempt_id, row.id)
            continue
        if response.status == ResponseStatus.COMPLETED.value:
            ivr.late_answers = (ivr.late_answers or 0) + 1
            continue
        item = by_code[code]
        if any(a.item_id == item.id for a in response.answers):
            continue  # answered already: a duplicate callback, or the specialist's answer
        score = survey_input.key_score(_digits(row), version.scale_min, version.scale_max)
        survey_service.save_answer(
            session, response, code, score, unanswered=score is None, source=AnswerSource.IVR.value, now=now
        )
        stored += 1
    if ivr.status == IvrStatus.RUNNING.value and response.status != ResponseStatus.COMPLETED.value:
        answered = {a.item_id for a in response.answers}
        if all(by_code[c].id in answered for c in ivr.items or [] if c in by_code):
            ivr.status = IvrStatus.FINISHED.value
            ivr.finished_at = now
            finish_and_record(session, ivr.task, response, user=ivr.handed_by, now=now)
    session.flush()
    return stored


call_event_apply.on_gather(apply_gathers)
