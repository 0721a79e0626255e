"""Surveys (domain.md §6): the seeded SSI/CSI templates, template versions, responses and
their answers. The arithmetic lives in care/domain/surveys.py.

The API other modules call:

- ``ensure_seeded(session, now=…)`` → the codes it created. The SSI and CSI are seeded
  from the seeds (see ``SEED_SPECS``) by ``care init-db`` **and** lazily by
  ``current_version``/``templates_in_force`` (a database made by the tests or an older
  ``init-db`` gets them the first time a survey is needed). A template that exists is
  never touched again: the managers' edits stand.
- ``current_version(session, code)`` → the ``SurveyTemplateVersion`` in force.
- ``save_template(session, code, spec, *, user, note, now)`` → a new version (validated).
- ``start_or_resume(session, *, template_code, customer, task=None, attempt=None,
  staff=None, channel, user, now)`` → the ``SurveyResponse`` of that task (or attempt),
  resumed, or a new one.
- ``save_answer(session, response, item_code, score, unanswered=False, *, source, now)``
  → ``SaveResult`` (``stored`` False with ``reason`` "completed" when the response is
  already completed: a later source never overwrites it).
- ``finish(session, response, *, user, now)`` → stores the index and completes it.
- ``scored_items(response)`` → the ``ScoredItem``s of a response, for the arithmetic.

Services flush and never commit; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from care.domain import N_
from care.domain import surveys as dom
from care.domain.surveys import FactorSpec, ItemSpec, Scale, ScoredItem, SurveyError, TemplateSpec
from care.models import (
    CallAttempt,
    CareTask,
    Customer,
    SurveyAnswer,
    SurveyFactor,
    SurveyItem,
    SurveyResponse,
    SurveyTemplate,
    SurveyTemplateVersion,
    User,
)
from care.models.survey import AnswerSource, ResponseStatus, SurveyChannel
from care.services import ServiceError

# --- the seeded templates -----------------------------------------------------------------


def _items(factor_weight: float, rows: list[tuple[str, str, str]]) -> tuple[ItemSpec, ...]:
    """Items with equal weights within their factor (the seed gives none)."""
    weights = dom.equal_weights(factor_weight, len(rows))
    return tuple(ItemSpec(code, zh, en, w) for (code, zh, en), w in zip(rows, weights, strict=True))


# SSI (销售满意度): the five factors and the sales-initiation weights exactly as domain.md
# lists them (seed 000, 「SGM现行满意度调查简介」); the salesperson items the seed names;
# the other factors' items written from the seed's 「4S店销售服务规范SSI行动指南」
# (交易条件: speed of and say in the negotiation, the quote and the contract explained;
# 交车过程: a pleasant hand-over, its duration, a convenient time, the process explained)
# and, for the facility the seed does not detail, common dealership practice.
SSI = TemplateSpec(
    code="ssi",
    name_zh="销售满意度(SSI)",
    name_en="Sales satisfaction (SSI)",
    scale=Scale(1, 7),
    factors=(
        FactorSpec(
            "sales_initiation", "销售启动", "Sales initiation", 20.49,
            (
                ItemSpec("greeted_at_once", "有人第一时间接待您", "Someone greeted you at once", 4.25),
                ItemSpec("approached", "销售人员主动上前与您交谈", "The salesperson came up to talk with you", 0.89),
                ItemSpec("help_offered", "当有需要时销售人员主动提供协助", "The salesperson offered help when you needed it", 1.16),
                ItemSpec("contacted_after_visit", "在第一次去过经销店之后,销售人员主动联系您", "The salesperson contacted you after your first visit", 1.52),
                ItemSpec("brochures_shown", "展示产品介绍资料", "Product brochures were shown", 1.95),
                ItemSpec("features_on_test_drive", "在试驾时展示汽车的配置", "The car's features were shown on the test drive", 2.19),
                ItemSpec("test_drive_invited", "销售人员主动邀请试乘试驾", "The salesperson invited you to a test drive", 4.51),
                ItemSpec("test_drive_time", "试驾的时间充足", "There was enough time for the test drive", 1.96),
                ItemSpec("ride_time", "试乘的时间充足", "There was enough time for the test ride", 1.10),
                ItemSpec("road_choice", "试驾时可以选择不同的道路状况以体验车辆性能", "You could choose road conditions to try the car", 0.96),
            ),
        ),
        FactorSpec(
            "salesperson", "销售人员", "Salesperson", 18.84,
            _items(18.84, [
                ("sp_focused", "销售人员专注只和您一个人交谈", "The salesperson attended to you alone"),
                ("sp_no_pressure", "销售人员没有给人强销或者过度推销的感觉", "The salesperson did not push or oversell"),
                ("sp_consistent", "销售人员在购车过程中的热情态度始终如一", "The salesperson stayed friendly throughout the purchase"),
            ]),
        ),
        FactorSpec(
            "dealer_facility", "经销商设施", "Dealer facility", 19.17,
            _items(19.17, [
                ("showroom_clean", "展厅环境整洁舒适", "The showroom was clean and comfortable"),
                ("lounge", "客户休息区设施齐全,茶点周到", "The lounge was well equipped, with refreshments"),
                ("parking", "停车方便,指引清楚", "Parking was easy and well signposted"),
            ]),
        ),
        FactorSpec(
            "deal_process", "交易过程", "Deal process", 19.00,
            _items(19.00, [
                ("deal_speed", "完成议价过程的速度", "How quickly the price negotiation was done"),
                ("deal_influence", "您对议价过程的影响力", "Your say in the price negotiation"),
                ("quote_explained", "销售顾问逐项解释报价单,各项费用清楚", "The quote was explained item by item, every fee clear"),
                ("contract_explained", "合同条款和收费说明详细,让您放心", "The contract terms and charges were explained in full"),
            ]),
        ),
        FactorSpec(
            "delivery", "交车过程", "Delivery", 22.50,
            _items(22.50, [
                ("delivery_pleasant", "工作人员的热情使交车过程令人愉快", "The staff made the hand-over a pleasure"),
                ("delivery_duration", "完成交车过程所需的时间合适", "The hand-over took the right amount of time"),
                ("delivery_time_agreed", "交车时间按您方便的时间安排", "The hand-over was at a time that suited you"),
                ("delivery_explained", "交车流程和车辆使用讲解清楚", "The hand-over steps and the car's use were explained"),
            ]),
        ),
    ),
    overall=ItemSpec("overall", "总体而言,您对本次购车经历的满意程度", "Overall, how satisfied are you with this purchase?", 0.0),
)  # fmt: skip

# CSI (售后服务满意度): the seven factors of domain.md (seed 002, J.D. Power's CSI factor
# structure) and the callback questions of seed 002 (「客户满意度调查及方法」) as items,
# each in the factor it measures, equal weights within a factor.
CSI = TemplateSpec(
    code="csi",
    name_zh="售后服务满意度(CSI)",
    name_en="Service satisfaction (CSI)",
    scale=Scale(1, 7),
    factors=(
        FactorSpec(
            "service_initiation", "服务启动", "Service initiation", 10.2,
            _items(10.2, [
                ("greeted_promptly", "接待人员是否及时迎接您,并且面带微笑", "Were you greeted promptly, with a smile?"),
            ]),
        ),
        FactorSpec(
            "service_advisor", "服务顾问", "Service advisor", 11.5,
            _items(11.5, [
                ("checked_together", "服务顾问是否与您一同检查车辆,确认车辆故障", "Did the advisor check the car with you?"),
                ("repairs_explained", "服务顾问是否向您详细解释了将要采取的维修措施", "Did the advisor explain the repairs in detail?"),
                ("detailed_quote", "服务顾问是否为您做了详细的报价", "Did the advisor give you a detailed quote?"),
            ]),
        ),
        FactorSpec(
            "service_facility", "服务设施", "Service facility", 12.1,
            _items(12.1, [
                ("staff_friendly", "服务人员是否热情、诚实地对待您", "Were the staff friendly and honest with you?"),
                ("car_cared_for", "维修人员是否爱护您的车辆及您的私人物品", "Were your car and belongings cared for?"),
            ]),
        ),
        FactorSpec(
            "service_quality", "服务质量", "Service quality", 14.7,
            _items(14.7, [
                ("fixed_first_time", "是否一次性为您解决您提出的问题", "Was the problem fixed the first time?"),
                ("car_clean", "维修后您的车辆看起来是否干净整洁", "Was the car clean after the work?"),
            ]),
        ),
        FactorSpec(
            "vehicle_pickup", "服务交车", "Vehicle pick-up", 15.4,
            _items(15.4, [
                ("each_confirmed", "服务顾问是否与您逐一确认您的问题得到解决", "Did the advisor confirm each item with you?"),
                ("advice_given", "服务顾问是否就今后的车辆使用及保养提出建议", "Did the advisor give advice on use and maintenance?"),
                ("itemised_bill", "是否为您提供了详细的项目及费用清单", "Did you get an itemised bill?"),
            ]),
        ),
        FactorSpec(
            "convenience", "客户便利", "Customer convenience", 15.8,
            _items(15.8, [
                ("time_told", "服务顾问是否告知您维修操作所需要的时间", "Were you told how long the work would take?"),
                ("comfortable", "在专营店接受服务的过程中,您是否感到舒适、便捷", "Was your visit comfortable and convenient?"),
            ]),
        ),
        FactorSpec(
            "problem_experience", "问题经历", "Problem experience", 20.3,
            _items(20.3, [
                ("asked_before_changes", "当维修项目发生变化时,是否有人征求您的意见并重新确认费用及时间", "Were you asked before the work or its cost changed?"),
                ("problem_solved", "对于您提出的问题,专营店是否积极帮助您解决", "Did the dealer actively help with your problem?"),
            ]),
        ),
    ),
    overall=ItemSpec("overall", "总体而言,您对本次维修保养服务的满意程度", "Overall, how satisfied are you with this service visit?", 0.0),
)  # fmt: skip

SEED_SPECS: dict[str, TemplateSpec] = {SSI.code: SSI, CSI.code: CSI}


# --- templates and versions ---------------------------------------------------------------


def _write_version(
    session: Session, template: SurveyTemplate, spec: TemplateSpec, *, user: User | None, note: str | None, now: datetime
) -> SurveyTemplateVersion:
    version = SurveyTemplateVersion(
        template=template,
        version=(template.current_version or 0) + 1,
        scale_min=spec.scale.min,
        scale_max=spec.scale.max,
        overall_item_code=spec.overall.code,
        note=note,
        created_at=now,
        created_by_id=user.id if user is not None else None,
    )
    session.add(version)
    for fpos, f in enumerate(spec.factors):
        factor = SurveyFactor(
            version=version, code=f.code, name_zh=f.name_zh, name_en=f.name_en, weight=f.weight, position=fpos
        )
        session.add(factor)
        for ipos, i in enumerate(f.items):
            session.add(
                SurveyItem(
                    version=version, factor=factor, code=i.code, text_zh=i.text_zh, text_en=i.text_en,
                    weight=i.weight, position=ipos,
                )
            )  # fmt: skip
    o = spec.overall
    session.add(
        SurveyItem(version=version, factor=None, code=o.code, text_zh=o.text_zh, text_en=o.text_en, weight=0.0, position=999)
    )
    template.current_version = version.version
    template.name_zh, template.name_en = spec.name_zh, spec.name_en
    session.flush()
    return version


def ensure_seeded(session: Session, *, now: datetime | None = None) -> list[str]:
    """Create each seeded template that does not exist yet (never touches one that does).
    Two processes seeding at once: the loser's insert fails on the unique code and is
    rolled back to its savepoint; the winner's template stands."""
    from care.models.types import utcnow

    now = now or utcnow()
    existing = set(session.scalars(select(SurveyTemplate.code)))
    created = []
    for code, spec in SEED_SPECS.items():
        if code in existing:
            continue
        dom.validate_spec(spec)
        try:
            with session.begin_nested():
                template = SurveyTemplate(code=code, name_zh=spec.name_zh, name_en=spec.name_en, created_at=now)
                session.add(template)
                _write_version(session, template, spec, user=None, note="seed", now=now)
        except IntegrityError:
            continue
        created.append(code)
    return created


def _version_query():
    return select(SurveyTemplateVersion).options(
        selectinload(SurveyTemplateVersion.factors).selectinload(SurveyFactor.items),
        selectinload(SurveyTemplateVersion.items),
        selectinload(SurveyTemplateVersion.template),
    )


def templates_in_force(session: Session) -> list[SurveyTemplateVersion]:
    """The version in force of every template, SSI and CSI first, then by code."""
    ensure_seeded(session)
    rows = session.scalars(
        _version_query()
        .join(SurveyTemplate, SurveyTemplate.id == SurveyTemplateVersion.template_id)
        .where(SurveyTemplate.current_version == SurveyTemplateVersion.version)
    ).all()
    order = {"ssi": 0, "csi": 1}
    return sorted(rows, key=lambda v: (order.get(v.template.code, 2), v.template.code))


def current_version(session: Session, code: str) -> SurveyTemplateVersion:
    """The version in force of template ``code``; ServiceError for an unknown code."""
    ensure_seeded(session)
    version = session.scalars(
        _version_query()
        .join(SurveyTemplate, SurveyTemplate.id == SurveyTemplateVersion.template_id)
        .where(SurveyTemplate.code == code, SurveyTemplate.current_version == SurveyTemplateVersion.version)
    ).first()
    if version is None:
        raise ServiceError(N_("There is no survey template “%(code)s”"), field="template", code=code)
    return version


def get_version(session: Session, version_id: int) -> SurveyTemplateVersion | None:
    return session.scalars(_version_query().where(SurveyTemplateVersion.id == version_id)).first()


def spec_of(version: SurveyTemplateVersion) -> TemplateSpec:
    """A stored version as the domain's spec (to validate, to edit into a new version)."""
    overall = next((i for i in version.items if i.code == version.overall_item_code), None)
    return TemplateSpec(
        code=version.template.code,
        name_zh=version.template.name_zh,
        name_en=version.template.name_en,
        scale=Scale(version.scale_min, version.scale_max),
        factors=tuple(
            FactorSpec(
                f.code, f.name_zh, f.name_en, f.weight,
                tuple(ItemSpec(i.code, i.text_zh, i.text_en, i.weight) for i in f.items),
            )
            for f in version.factors
        ),
        overall=ItemSpec(overall.code, overall.text_zh, overall.text_en, 0.0) if overall else ItemSpec("overall", "", "", 0.0),
    )  # fmt: skip


def save_template(
    session: Session, code: str, spec: TemplateSpec, *, user: User | None, note: str | None, now: datetime
) -> SurveyTemplateVersion:
    """A new version of template ``code`` (a new template when ``code`` is new). Refused
    (SurveyError, the message says why and by how much) when the weights do not add up
    or codes are bad or doubled; responses keep the version they were taken with."""
    dom.validate_spec(spec)
    if spec.code != code:
        raise ServiceError(N_("The template code cannot change"), field="code")
    template = session.scalars(select(SurveyTemplate).where(SurveyTemplate.code == code)).first()
    if template is None:
        template = SurveyTemplate(code=code, name_zh=spec.name_zh, name_en=spec.name_en, created_at=now)
        session.add(template)
    elif spec == spec_of(current_version(session, code)):
        raise ServiceError(N_("Nothing changed: the template is the same as version %(version)s"), version=template.current_version)
    return _write_version(session, template, spec, user=user, note=note, now=now)


def template_json(version: SurveyTemplateVersion) -> dict[str, Any]:
    """interfaces.md ``survey-templates --json``: ``name``/``text`` in Chinese (the primary
    language), ``name_en``/``text_en`` beside them."""
    return {
        "code": version.template.code,
        "name": version.template.name_zh,
        "name_en": version.template.name_en,
        "version": version.version,
        "scale": [version.scale_min, version.scale_max],
        "overall_item": version.overall_item_code,
        "factors": [
            {
                "code": f.code,
                "name": f.name_zh,
                "name_en": f.name_en,
                "weight": f.weight,
                "items": [{"code": i.code, "text": i.text_zh, "text_en": i.text_en, "weight": i.weight} for i in f.items],
            }
            for f in version.factors
        ],
    }


# --- responses and answers ----------------------------------------------------------------


def scale_of(version: SurveyTemplateVersion) -> Scale:
    return Scale(version.scale_min, version.scale_max)


def scored_items(response: SurveyResponse) -> list[ScoredItem]:
    """Every item of the response's version with its score (None: unanswered/not asked)."""
    by_item = {a.item_id: a for a in response.answers}
    out = []
    for item in response.version.items:
        answer = by_item.get(item.id)
        score = answer.score if answer is not None and not answer.unanswered else None
        out.append(ScoredItem(item.code, item.factor.code if item.factor else None, item.weight, score))
    return out


def default_staff(task: CareTask | None) -> tuple[User | None, str | None]:
    """The person a task's survey evaluates: the selling consultant of the delivery (or
    the vehicle) for the post-delivery survey; nobody known for a service callback (the
    visits carry no advisor)."""
    if task is None:
        return None, None
    for holder in (task.delivery, task.vehicle):
        if holder is not None and (holder.consultant_id or holder.consultant_name):
            user = holder.consultant
            return user, (user.display_name or user.username) if user else holder.consultant_name
    return None, None


def start_or_resume(
    session: Session,
    *,
    template_code: str,
    customer: Customer,
    task: CareTask | None = None,
    attempt: CallAttempt | None = None,
    staff: User | str | None = None,
    channel: str,
    user: User | None,
    now: datetime,
) -> SurveyResponse:
    """The response of this task (or, without a task, this attempt) for the template,
    resumed whatever its state (the caller sees ``status``); else a new one, taken now
    with the version in force. ``staff`` (the person evaluated) defaults to the task's
    consultant (``default_staff``)."""
    if channel not in {c.value for c in SurveyChannel}:
        raise ServiceError(N_("Unknown survey channel “%(channel)s”"), field="channel", channel=channel)
    version = current_version(session, template_code)
    if task is not None or attempt is not None:
        q = select(SurveyResponse).where(SurveyResponse.template_id == version.template_id)
        q = q.where(SurveyResponse.task_id == task.id) if task is not None else q.where(SurveyResponse.attempt_id == attempt.id)
        existing = session.scalars(q.order_by(SurveyResponse.id.desc())).first()
        if existing is not None:
            if attempt is not None and existing.attempt_id is None:
                existing.attempt_id = attempt.id
            return existing
    if isinstance(staff, User):
        staff_user, staff_name = staff, staff.display_name or staff.username
    elif isinstance(staff, str) and staff.strip():
        staff_user, staff_name = None, staff.strip()
    else:
        staff_user, staff_name = default_staff(task)
    response = SurveyResponse(
        template_id=version.template_id,
        version=version,
        customer_id=customer.id,
        vehicle_id=task.vehicle_id if task is not None else None,
        task_id=task.id if task is not None else None,
        attempt_id=attempt.id if attempt is not None else None,
        staff_id=staff_user.id if staff_user is not None else None,
        staff_name=staff_name,
        channel=channel,
        taken_at=now,
        status=ResponseStatus.IN_PROGRESS.value,
        taken_by_id=user.id if user is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(response)
    session.flush()
    return response


@dataclass(frozen=True)
class SaveResult:
    """What ``save_answer`` did: ``stored`` False with ``reason`` "completed" when the
    response was completed before this answer came (kept out, not overwritten)."""

    stored: bool
    answer: SurveyAnswer | None = None
    reason: str | None = None


def item_of(response: SurveyResponse, item_code: str) -> SurveyItem:
    item = next((i for i in response.version.items if i.code == item_code), None)
    if item is None:
        raise SurveyError(
            N_("The questionnaire has no item “%(code)s”"), field="item", code=item_code
        )
    return item


def put_answer(
    session: Session, response: SurveyResponse, item: SurveyItem, score: int | None, *,
    unanswered: bool, source: str, now: datetime,
) -> SurveyAnswer | None:
    """Write (or clear, with no score and not unanswered) one answer, range-checked,
    whatever the response's state: the importer's re-import and ``save_answer`` use it."""  # fmt: skip
    if source not in {s.value for s in AnswerSource}:
        raise ServiceError(N_("Unknown answer source “%(source)s”"), source=source)
    if score is not None and unanswered:
        raise SurveyError(N_("An item is either scored or unanswered, not both"), field=item.code)
    scale_of(response.version).check(score, item=item.code)
    answer = next((a for a in response.answers if a.item_id == item.id), None)
    if score is None and not unanswered:
        if answer is not None:
            response.answers.remove(answer)
            session.delete(answer)
        return None
    if answer is None:
        answer = SurveyAnswer(response=response, item=item)
        session.add(answer)
    answer.score, answer.unanswered, answer.source, answer.answered_at = score, unanswered, source, now
    response.updated_at = now
    return answer


def save_answer(
    session: Session,
    response: SurveyResponse,
    item_code: str,
    score: int | None,
    unanswered: bool = False,
    *,
    source: str,
    now: datetime,
) -> SaveResult:
    """Store one item's answer (``score`` on the scale, or ``unanswered``; neither clears
    it). Refused with SurveyError for an unknown item or an out-of-scale score. On a
    completed response nothing changes: ``SaveResult(stored=False, reason="completed")``."""
    item = item_of(response, item_code)
    scale_of(response.version).check(score, item=item_code)
    if response.status == ResponseStatus.COMPLETED.value:
        return SaveResult(False, next((a for a in response.answers if a.item_id == item.id), None), "completed")
    answer = put_answer(session, response, item, score, unanswered=unanswered, source=source, now=now)
    session.flush()
    return SaveResult(True, answer)


def compute_index(response: SurveyResponse) -> float | None:
    return dom.response_index(scored_items(response), scale_of(response.version))


def finish(session: Session, response: SurveyResponse, *, user: User | None, now: datetime) -> SurveyResponse:
    """Complete the response and store its index (None when no weighted item was
    answered). Finishing a completed response changes nothing."""
    if response.status == ResponseStatus.COMPLETED.value:
        return response
    response.index = compute_index(response)
    response.status = ResponseStatus.COMPLETED.value
    response.completed_at = now
    response.updated_at = now
    if response.taken_by_id is None and user is not None:
        response.taken_by_id = user.id
    session.flush()
    _after_completed(session, response, now)
    return response


def _after_completed(session: Session, response: SurveyResponse, now: datetime) -> None:
    """The ONE place a completed response (phone, IVR or import) hands over to what R19
    needs. COMPLAINTS HOOK: the complaints helper calls
    ``complaints.open_from_response(session, response, now)`` here (once per response;
    it finds the low items with ``care.domain.surveys.low_items``)."""
    return None
