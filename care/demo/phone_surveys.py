"""Phone surveys in the demo (issue 11 item 2): a few of the open post-delivery surveys and
post-service callbacks are half-taken on the phone (a call that dropped), so that `make
run` shows a questionnaire resumed where it stopped. The automated survey needs a live
call: on `make run` the simulator keeps an answered call connected CARE_SIM_TALK seconds
(20), time to press "Hand over to the automated survey" in the call panel and watch the
answers of CARE_SIM_SURVEY_MIX arrive."""

from __future__ import annotations

from sqlalchemy import select

from care.demo.context import DemoContext
from care.models import CareTask, User
from care.services import phone_survey

HALF_TAKEN = 2  # open survey tasks per specialist left half-way
_SCORES = ("7", "6", "7", "5", "none", "6")


def add_phone_surveys(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("phone_surveys")
    started, customers = 0, set()
    for name in ctx.usernames("specialist"):
        user = session.scalars(select(User).where(User.username == name)).first()
        if user is None:
            continue
        tasks = session.scalars(
            select(CareTask)
            .where(
                CareTask.assignee_id == user.id,
                CareTask.status == "open",
                CareTask.type.in_(tuple(phone_survey.SURVEY_OF_TASK)),
            )
            .order_by(CareTask.due_at, CareTask.id)
            .limit(HALF_TAKEN)
        ).all()
        for task in tasks:
            if task.customer_id in customers:  # one questionnaire at a time per customer (two
                continue  # started at the same instant would be the same response)
            customers.add(task.customer_id)
            survey = phone_survey.survey_for(session, task, user=user, now=ctx.now)
            rows = survey.rows[: rng.randint(3, len(_SCORES))]
            for row, score in zip(rows, _SCORES, strict=False):
                phone_survey.save_phone_answer(session, task, row.item.code, score, user=user, now=ctx.now)
            started += 1
    ctx.counts["phone_surveys_started"] = started
