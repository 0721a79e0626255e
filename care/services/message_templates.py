"""Fallback message templates (R14): the SMS / e-mail text of each task type that falls
back, editable by the care manager. Merge fields are those of the call scripts
(care/domain/scripts.py) and are validated the same way.

- ``DEFAULTS``: the Chinese default text of each (task type, channel);
- ``ensure_default_templates(session, now)``: adds the defaults that are missing
  (idempotent; an edited template is never overwritten);
- ``get_template`` / ``template_text`` (the stored text, else the default);
- ``save_template`` (validated, audited as ``message_template.save``);
- ``render_for_task(session, task, channel, now)`` → (subject, body).

Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.domain import N_
from care.domain import scripts as dom
from care.domain.task_rules import TaskType
from care.models import CareTask, MessageTemplate, User
from care.services import Actor, ServiceError, audit
from care.services.scripts import merge_context

MAX_SMS_BODY = 500  # characters: a long SMS is split by the carrier, but not endlessly
MAX_EMAIL_BODY = 10_000
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Default:
    subject: str | None
    body: str


_SIGN = "如已办理请忽略。详询{dealer_name}客服。"

DEFAULTS: dict[tuple[str, str], Default] = {
    (TaskType.FIRST_SERVICE.value, "sms"): Default(
        None,
        "【{dealer_name}】{salutation}，您好！您的爱车{plate}首保期限将至（请于{due_date}前完成），"
        "首保免费，请携带保养手册和行驶证到店，欢迎提前预约。" + _SIGN,
    ),
    (TaskType.MAINTENANCE.value, "email"): Default(
        "【{dealer_name}】您的爱车{plate}定期保养提醒",
        "{salutation}，您好！\n\n"
        "根据您的用车情况，您的爱车{plate}（{model}）预计于{due_date}前需要进行定期保养"
        "（上次保养：{last_service_date}）。按时保养可以保障行车安全、延长车辆寿命。\n\n"
        "欢迎提前致电预约，到店无需等待。如已保养请忽略本邮件。\n\n{dealer_name} 客户关怀中心",
    ),
    (TaskType.MAINTENANCE.value, "sms"): Default(
        None,
        "【{dealer_name}】{salutation}，您好！您的爱车{plate}预计于{due_date}前需要定期保养，"
        "欢迎提前预约到店。" + _SIGN,
    ),
    (TaskType.WARRANTY_EXPIRY.value, "sms"): Default(
        None,
        "【{dealer_name}】{salutation}，您好！您的爱车{plate}整车保修将于{warranty_end}到期，"
        "建议到期前到店做一次全面检查，如有问题可在保修期内处理。" + _SIGN,
    ),
    (TaskType.INSPECTION.value, "sms"): Default(
        None,
        "【{dealer_name}】{salutation}，您好！您的爱车{plate}年检将于{inspection_due}到期，"
        "请及时办理，本店可提供年检前检测服务。" + _SIGN,
    ),
    (TaskType.INSURANCE_RENEWAL.value, "sms"): Default(
        None,
        "【{dealer_name}】{salutation}，您好！您的爱车{plate}的车险（{insurer}）将于{policy_expiry}到期，"
        "请及时续保，本店可为您办理续保及报价。" + _SIGN,
    ),
    # R17: the reminder the day before an appointment (care.services.register), not a
    # task's fallback: its "task type" is the template's own name.
    ("appointment_reminder", "sms"): Default(
        None,
        "【{dealer_name}】{salutation}，您好！提醒您：您已预约{appointment_date} {appointment_time}"
        "到店为爱车{plate}做服务，请准时到店。如需改期请致电{dealer_name}客服，我们会为您重新安排。",
    ),
    (TaskType.BIRTHDAY.value, "sms"): Default(
        None,
        "【{dealer_name}】{salutation}，今天是您的生日，{dealer_name}全体员工祝您生日快乐、"
        "身体健康、行车平安！",
    ),
}

KINDS: tuple[tuple[str, str], ...] = tuple(DEFAULTS)


class TemplateInvalid(ServiceError):
    def __init__(self, problems: tuple[dom.TemplateProblem, ...]):
        super().__init__(
            N_("The message has %(count)s problem(s); nothing was saved."),
            field="body",
            count=len(problems),
        )
        self.problems = problems


def _check_kind(task_type: str, channel: str) -> None:
    if (task_type, channel) not in DEFAULTS:
        raise ServiceError(
            N_("No fallback message for %(task_type)s by %(channel)s."),
            field="task_type",
            task_type=task_type,
            channel=channel,
        )


def get_template(session: Session, task_type: str, channel: str) -> MessageTemplate | None:
    return session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.task_type == task_type, MessageTemplate.channel == channel
        )
    )


def template_text(session: Session, task_type: str, channel: str) -> Default | None:
    """The text to send: the stored template, else the default, else None."""
    row = get_template(session, task_type, channel)
    if row is not None:
        return Default(row.subject, row.body)
    return DEFAULTS.get((task_type, channel))


def ensure_default_templates(session: Session, now: datetime) -> int:
    """Add every default template that is missing; returns how many were added."""
    have = {
        (t, c)
        for t, c in session.execute(select(MessageTemplate.task_type, MessageTemplate.channel))
    }
    added = 0
    for (task_type, channel), default in DEFAULTS.items():
        if (task_type, channel) in have:
            continue
        session.add(
            MessageTemplate(
                task_type=task_type,
                channel=channel,
                subject=default.subject,
                body=default.body,
                updated_at=now,
            )
        )
        added += 1
    if added:
        session.flush()
    return added


def overview(session: Session) -> list[tuple[str, str, MessageTemplate | None, Default]]:
    """Every (task type, channel) with its stored row (None: default in use) and default."""
    rows = {(t.task_type, t.channel): t for t in session.scalars(select(MessageTemplate))}
    return [(t, c, rows.get((t, c)), d) for (t, c), d in DEFAULTS.items()]


def save_template(
    session: Session,
    task_type: str,
    channel: str,
    *,
    subject: str | None,
    body: str,
    user: User | None,
    now: datetime,
    ip: str | None = None,
) -> MessageTemplate:
    _check_kind(task_type, channel)
    body_ = dom.normalize_body(body or "")
    if not body_.strip():
        raise ServiceError(N_("The message is empty."), field="body")
    limit = MAX_SMS_BODY if channel == "sms" else MAX_EMAIL_BODY
    if len(body_) > limit:
        raise ServiceError(
            N_("The message may have at most %(max)s characters."), field="body", max=limit
        )
    problems = dom.validate(body_)
    subject_ = " ".join((subject or "").split()) or None
    if channel == "email":
        if not subject_:
            raise ServiceError(N_("Give the e-mail a subject."), field="subject")
        if len(subject_) > MAX_SUBJECT:
            raise ServiceError(
                N_("The subject may have at most %(max)s characters."),
                field="subject",
                max=MAX_SUBJECT,
            )
        problems = problems + dom.validate(subject_)
    else:
        subject_ = None
    if problems:
        raise TemplateInvalid(problems)
    row = get_template(session, task_type, channel)
    if row is None:
        row = MessageTemplate(task_type=task_type, channel=channel, subject=subject_, body=body_)
        session.add(row)
    row.subject, row.body = subject_, body_
    row.updated_by_id = user.id if user else None
    row.updated_at = now
    audit.record(
        session,
        actor=Actor.of(user, ip) if user else Actor.SYSTEM.at(ip),
        action="message_template.save",
        object_type="message_template",
        object_id=f"{task_type}:{channel}",
        now=now,
    )
    session.flush()
    return row


def render_text(session: Session, kind: str, channel: str, ctx: dict) -> str:
    """The body of the template ``kind`` on ``channel`` with the merge fields of ``ctx``
    filled (missing ones as their 【…】 placeholder); "" when there is no such template."""
    text = template_text(session, kind, channel)
    return dom.render(text.body, ctx) if text is not None else ""


def render_for_task(
    session: Session, task: CareTask, channel: str, *, now: datetime
) -> tuple[str | None, str] | None:
    """(subject, body) of the task type's message on ``channel`` for this task, fields
    filled from the task (as its call script); None when the type has no such message."""
    text = template_text(session, task.type, channel)
    if text is None:
        return None
    ctx = merge_context(session, task, now=now)
    subject = dom.render(text.subject, ctx) if text.subject else None
    return subject, dom.render(text.body, ctx)
