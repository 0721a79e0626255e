"""R21 with the database: which calls are a month's insurance calls, the draw (60 % per
specialist rounded up, at least one each, reproducible from its recorded seed), a second
draw that is refused and shows the same sample, top-ups for later calls, verdicts, progress
and what an unfinished sample is short of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from care.domain import sampling as rules
from care.models import AuditLog, SampleCall, SampleDraw
from care.services import Actor
from care.services import sampling as svc
from care.services.settings import set_settings
from tests import factories
from tests.services.helpers_sampling import NOW, OCTOBER, call, calls, insurance_task, link, october

ACTOR = Actor("care_manager", 1)


@pytest.fixture
def staff(session):
    return {
        "a": factories.make_user(session, "insurance", username="ins_a"),
        "b": factories.make_user(session, "insurance", username="ins_b"),
        "c": factories.make_user(session, "insurance", username="ins_c"),
        "manager": factories.make_user(session, "care_manager", username="cm"),
        "gm": factories.make_user(session, "general_manager", username="gm"),
    }


def draw(session, staff, **kw):
    kw.setdefault("user", staff["manager"])
    kw.setdefault("actor", Actor.of(staff["manager"]))
    kw.setdefault("now", NOW)
    return svc.draw_sample(session, OCTOBER, **kw)


# --- the population -------------------------------------------------------------------------


def test_the_months_calls_are_the_insurance_calls_that_reached_the_customer(session, staff):
    a, b = staff["a"], staff["b"]
    reached = call(session, a, october(2))
    call(session, a, october(3), outcome="no_answer")
    call(session, a, october(4), outcome="busy")
    call(session, a, october(5), outcome="machine")  # a voicemail: no conversation
    call(session, a, october(6), outcome="canceled", counted=False)
    call(session, a, october(7), counted=False, error="provider down")  # never placed
    other = factories.make_task(session, assignee=a, type="maintenance", status="done")
    call(session, a, october(8), task=other)  # a maintenance reminder only
    # One call of a contact for two tasks: led by the maintenance task, it counts for the
    # insurance renewal too (call_attempt_tasks) — an insurance call, counted once.
    customer = factories.make_customer(session)
    lead = factories.make_task(session, customer, assignee=b, type="maintenance", status="done")
    renewal = insurance_task(session, b, customer)
    renewal2 = insurance_task(session, b, customer, cycle_key="second-policy")
    bundled = call(session, b, october(9), task=lead)
    link(session, bundled, renewal)
    link(session, bundled, renewal2)
    # The month at the dealer (Asia/Shanghai, UTC+8): 30 Sep 16:30 UTC is 1 Oct 00:30 there.
    first_minute = call(session, b, datetime(2026, 9, 30, 16, 30, tzinfo=UTC))
    call(session, b, datetime(2026, 9, 30, 15, 59, tzinfo=UTC))  # 30 Sep 23:59 there
    call(session, b, datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 1 Nov 00:00 there
    last_minute = call(session, b, datetime(2026, 10, 31, 15, 59, tzinfo=UTC))
    call(session, b, october(10), user_id=None)  # nobody placed it (not a call of the app)

    found = svc.month_calls(session, OCTOBER, "Asia/Shanghai")
    assert found == {a.id: [reached.id], b.id: sorted([bundled.id, first_minute.id, last_minute.id])}


# --- the draw ---------------------------------------------------------------------------------


def test_sixty_percent_of_each_specialists_calls_rounded_up_at_least_one(session, staff):
    mine = {"a": calls(session, staff["a"], 5), "b": calls(session, staff["b"], 1), "c": calls(session, staff["c"], 4)}
    record = draw(session, staff)
    session.commit()
    by_specialist = {}
    for row in session.scalars(select(SampleCall).order_by(SampleCall.id)):
        by_specialist.setdefault(row.specialist_id, []).append(row)
    sizes = {who: sum(r.sampled for r in by_specialist[staff[who].id]) for who in mine}
    assert sizes == {"a": 3, "b": 1, "c": 3}
    # every call of the month was drawn from, each in its caller's stratum
    for who, own in mine.items():
        assert {r.attempt_id for r in by_specialist[staff[who].id]} == {x.id for x in own}
    assert (record.month, record.number, record.rate) == ("2026-10", 1, 0.6)
    assert record.drawn_by_id == staff["manager"].id and record.drawn_at == NOW


def test_the_rate_is_the_setting(session, staff):
    calls(session, staff["a"], 10)
    set_settings(session, {"insurance_sample_rate": "30%"}, actor=ACTOR, now=NOW)
    record = draw(session, staff)
    assert record.rate == 0.3
    assert sum(c.sampled for c in record.calls) == 3


def test_the_seed_is_chosen_and_recorded_and_reproduces_the_draw(session, staff):
    for who in ("a", "b", "c"):
        calls(session, staff[who], 7)
    record = draw(session, staff)
    session.commit()
    assert 0 <= record.seed <= rules.MAX_SEED
    assert svc.reproduce(session, record) == svc.recorded(record)
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "sample.draw")).one()
    assert entry.detail == {"month": "2026-10", "number": 1, "seed": record.seed, "rate": 0.6, "calls": 21, "sampled": 15}
    assert entry.object_type == "sample_draw" and entry.object_id == str(record.id)


def test_the_same_seed_gives_the_same_sample_again(session, staff):
    for who in ("a", "b"):
        calls(session, staff[who], 9)
    first = draw(session, staff, seed=2024)
    sample = svc.recorded(first)
    # Drawn anew from nothing (the recorded draw removed) with the same seed: the same calls.
    for row in list(first.calls):
        session.delete(row)
    session.delete(first)
    session.flush()
    again = draw(session, staff, seed=2024)
    assert svc.recorded(again) == sample
    for row in list(again.calls):
        session.delete(row)
    session.delete(again)
    session.flush()
    other = draw(session, staff, seed=2025)
    assert svc.recorded(other) != sample


def test_drawing_again_is_refused_and_the_sample_stays(session, staff):
    calls(session, staff["a"], 5)
    first = draw(session, staff)
    before = svc.sample_document(session, OCTOBER)
    with pytest.raises(svc.SampleRefused) as refused:
        draw(session, staff)
    assert refused.value.status == 409 and refused.value.code == "drawn"
    with pytest.raises(svc.SampleRefused):
        draw(session, staff, seed=first.seed)
    assert svc.sample_document(session, OCTOBER) == before
    assert session.scalar(select(func.count()).select_from(SampleDraw)) == 1


def test_a_later_call_is_not_added_silently_but_waits_for_a_top_up(session, staff):
    a, b = staff["a"], staff["b"]
    calls(session, a, 5)
    calls(session, b, 2)
    first = draw(session, staff, seed=11)
    before = svc.sample_document(session, OCTOBER)
    late_a = call(session, a, october(28))
    late_c = call(session, staff["c"], october(29))  # a specialist whose first call is late

    shown = svc.sample_document(session, OCTOBER)
    assert [s["sampled"] for s in shown["strata"] if s["sampled"]] == [s["sampled"] for s in before["strata"]]
    assert shown["new_calls"] == 2 and shown["seed"] == 11
    assert svc.new_calls(session, OCTOBER, "Asia/Shanghai") == {a.id: [late_a.id], staff["c"].id: [late_c.id]}

    top = draw(session, staff, top_up=True, seed=12)
    assert (top.number, top.seed, top.rate) == (2, 12, 0.6)
    assert {c.attempt_id for c in top.calls} == {late_a.id, late_c.id}  # the new calls only
    after = {s["specialist"]: s for s in svc.sample_document(session, OCTOBER)["strata"]}
    assert len(after["ins_a"]["sampled"]) == rules.sample_size(6, 0.6) == 4  # 6 calls → 4
    assert after["ins_c"]["sampled"] == [late_c.id]  # at least one
    assert len(after["ins_b"]["sampled"]) == 2
    assert svc.reproduce(session, top) == svc.recorded(top)
    assert svc.reproduce(session, first) == svc.recorded(first)
    assert session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all() == ["sample.draw", "sample.top_up"]

    with pytest.raises(svc.SampleRefused) as nothing_new:
        draw(session, staff, top_up=True)
    assert nothing_new.value.code == "no_new_calls"


def test_a_top_up_keeps_the_months_rate(session, staff):
    calls(session, staff["a"], 5)
    draw(session, staff)
    set_settings(session, {"insurance_sample_rate": "1"}, actor=ACTOR, now=NOW)
    call(session, staff["a"], october(30))
    top = draw(session, staff, top_up=True)
    assert top.rate == 0.6
    assert sum(c.sampled for c in top.calls) == 1  # 6 calls at 60 % → 4: one more


@pytest.mark.parametrize(
    "kw, code, status",
    [
        ({"top_up": True}, "not_drawn", 409),  # nothing drawn to top up
        ({"seed": -1}, "bad_seed", 422),
        ({"seed": rules.MAX_SEED + 1}, "bad_seed", 422),
    ],
)
def test_refusals_write_nothing(session, staff, kw, code, status):
    calls(session, staff["a"], 3)
    with pytest.raises(svc.SampleRefused) as refused:
        draw(session, staff, **kw)
    assert (refused.value.code, refused.value.status) == (code, status)
    assert session.scalar(select(func.count()).select_from(SampleDraw)) == 0
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_a_month_without_calls_or_not_begun_is_not_drawn(session, staff):
    with pytest.raises(svc.SampleRefused) as empty:
        draw(session, staff)
    assert empty.value.code == "no_calls"
    with pytest.raises(svc.SampleRefused) as future:
        svc.draw_sample(session, datetime(2026, 12, 1).date(), user=staff["manager"], actor=ACTOR, now=NOW)
    assert future.value.code == "future" and future.value.status == 422
    # the current month may be drawn (its later calls come with a top-up)
    call(session, staff["a"], datetime(2026, 11, 2, 3, tzinfo=UTC))
    assert svc.draw_sample(session, NOW.date().replace(day=1), user=staff["manager"], actor=ACTOR, now=NOW).number == 1


@pytest.mark.parametrize("role", ["insurance", "general_manager", "sales_manager", "specialist", "admin"])
def test_only_the_care_manager_draws(session, staff, role):
    calls(session, staff["a"], 3)
    someone = factories.make_user(session, role)
    with pytest.raises(svc.SampleRefused) as refused:
        svc.draw_sample(session, OCTOBER, user=someone, actor=Actor.of(someone), now=NOW)
    assert refused.value.status == 403
    assert session.scalar(select(func.count()).select_from(SampleDraw)) == 0


def test_the_command_line_draws_without_a_user(session, staff):
    calls(session, staff["a"], 3)
    record = svc.draw_sample(session, OCTOBER, user=None, actor=Actor.CLI, now=NOW)
    assert record.drawn_by_id is None and record.actor == "cli"
    assert svc.drawn_by_name(record) == "cli"


def test_two_draws_at_the_same_moment_make_one(session, staff, monkeypatch):
    """The second of two concurrent draws read "not drawn" before the first committed: the
    unique (month, number) refuses its insert, and it says so (nothing of it is kept)."""
    calls(session, staff["a"], 3)
    first = draw(session, staff)
    session.commit()
    monkeypatch.setattr(svc, "draws_of", lambda _session, _month: [])  # as the second saw it
    monkeypatch.setattr(svc, "_considered", lambda _session, _month: {})
    with pytest.raises(svc.SampleRefused) as refused:
        draw(session, staff, seed=5)
    assert refused.value.code == "drawn" and refused.value.status == 409
    session.commit()
    assert session.scalars(select(SampleDraw.id)).all() == [first.id]
    assert session.scalar(select(func.count()).select_from(SampleCall)) == 3


# --- verdicts and progress ---------------------------------------------------------------------


def sampled_calls(session):
    return session.scalars(select(SampleCall).where(SampleCall.sampled).order_by(SampleCall.id)).all()


def test_a_verdict_is_recorded_replaced_and_audited(session, staff):
    calls(session, staff["a"], 5)
    draw(session, staff)
    first = sampled_calls(session)[0]
    manager = staff["manager"]
    svc.record_verdict(session, first, "to_standard", "", user=manager, actor=Actor.of(manager), now=NOW)
    assert (first.verdict, first.note, first.verified_by_id, first.verified_at) == ("to_standard", None, manager.id, NOW)
    later = NOW + timedelta(hours=1)
    svc.record_verdict(session, first, "not_to_standard", "  未提醒续保优惠 \r\n", user=manager, actor=Actor.of(manager), now=later)
    assert (first.verdict, first.note, first.verified_at) == ("not_to_standard", "未提醒续保优惠", later)
    rows = session.scalars(select(AuditLog).where(AuditLog.action == "sample.verdict").order_by(AuditLog.id)).all()
    assert [r.detail for r in rows] == [
        {"attempt_id": first.attempt_id, "verdict": "to_standard", "before": None, "note": False},
        {"attempt_id": first.attempt_id, "verdict": "not_to_standard", "before": "to_standard", "note": True},
    ]
    assert all("未提醒" not in str(r.detail) for r in rows)  # the note itself is not copied into the trail


@pytest.mark.parametrize(
    "verdict, note, code",
    [
        ("", "", "verdict"),
        ("great", "", "verdict"),
        ("not_done", "", "note"),  # what was wrong must be said
        ("not_to_standard", "   ", "note"),
        ("to_standard", "x" * (rules.MAX_NOTE + 1), "note"),
    ],
)
def test_a_bad_verdict_is_refused(session, staff, verdict, note, code):
    calls(session, staff["a"], 2)
    draw(session, staff)
    target = sampled_calls(session)[0]
    with pytest.raises(svc.SampleRefused) as refused:
        svc.record_verdict(session, target, verdict, note, user=staff["manager"], actor=ACTOR, now=NOW)
    assert (refused.value.code, refused.value.status) == (code, 422)
    assert target.verdict is None


def test_verdicts_only_by_the_care_manager_and_only_on_sampled_calls(session, staff):
    calls(session, staff["a"], 5)
    draw(session, staff)
    target = sampled_calls(session)[0]
    for who in ("a", "gm"):
        with pytest.raises(svc.SampleRefused) as refused:
            svc.record_verdict(session, target, "to_standard", "", user=staff[who], actor=ACTOR, now=NOW)
        assert refused.value.status == 403
    left_out = session.scalars(select(SampleCall).where(SampleCall.sampled.is_(False))).first()
    with pytest.raises(svc.SampleRefused) as refused:
        svc.record_verdict(session, left_out, "to_standard", "", user=staff["manager"], actor=ACTOR, now=NOW)
    assert refused.value.status == 409


def test_progress_per_specialist_and_the_managers_and_specialists_views(session, staff):
    calls(session, staff["a"], 5)
    calls(session, staff["b"], 2)
    draw(session, staff)
    manager = staff["manager"]
    a_calls = [c for c in sampled_calls(session) if c.specialist_id == staff["a"].id]
    for target, verdict in zip(a_calls[:2], ("to_standard", "not_done"), strict=True):
        svc.record_verdict(session, target, verdict, "没有提到到期日", user=manager, actor=ACTOR, now=NOW)

    view = svc.month_sample(session, OCTOBER, user=staff["gm"], now=NOW)
    assert view.drawn and view.has_ended and view.scope == rules.EVERYONE
    got = {s.specialist.username: (s.progress.calls, s.progress.sampled, s.progress.verified, s.progress.short) for s in view.strata}
    assert got == {"ins_a": (5, 3, 2, 1), "ins_b": (2, 2, 0, 2)}
    assert next(s for s in view.strata if s.specialist.username == "ins_a").verdicts == {"to_standard": 1, "not_done": 1}
    assert (view.calls, view.sampled, view.verified, view.required) == (7, 5, 2, 5)

    own = svc.month_sample(session, OCTOBER, user=staff["b"], now=NOW)
    assert [s.specialist.username for s in own.strata] == ["ins_b"]
    listed = session.scalars(svc.sampled_calls_statement(OCTOBER, scope=own.scope)).unique().all()
    assert {c.specialist_id for c in listed} == {staff["b"].id} and len(listed) == 2
    nobody = factories.make_user(session, "specialist")
    assert session.scalars(svc.sampled_calls_statement(OCTOBER, scope=rules.scope(nobody.id, nobody.roles))).all() == []

    summary = svc.sample_summary(session, OCTOBER)
    assert summary == {
        "calls": 7, "required": 5, "sampled": 5, "verified": 2,
        "completion": {"rate": 0.4, "numerator": 2, "denominator": 5},
    }  # fmt: skip


def test_a_month_not_drawn_shows_its_calls_and_what_it_will_ask(session, staff):
    calls(session, staff["a"], 4)
    view = svc.month_sample(session, OCTOBER, user=staff["manager"], now=NOW)
    assert not view.drawn and view.undrawn == 4 and view.required == 3 and view.progress == 0
    empty = svc.month_sample(session, datetime(2026, 8, 1).date(), user=staff["manager"], now=NOW)
    assert empty.strata == [] and empty.progress is None
    assert svc.sample_summary(session, datetime(2026, 8, 1).date())["completion"] == {
        "rate": None, "numerator": 0, "denominator": 0,
    }  # fmt: skip


# --- unfinished samples (the evidence for the violations, issue 12 item 4) ----------------------


def test_unfinished_samples_with_their_evidence(session, staff):
    a, b, c = staff["a"], staff["b"], staff["c"]
    calls(session, a, 5)
    calls(session, b, 1)
    calls(session, c, 2)
    draw(session, staff)
    manager = staff["manager"]
    for target in sampled_calls(session):
        if target.specialist_id in (b.id, c.id) or target == sampled_calls(session)[0]:
            svc.record_verdict(session, target, "to_standard", "", user=manager, actor=ACTOR, now=NOW)
    late = [call(session, c, october(30)), call(session, c, october(31))]  # after the draw, no top-up

    found = svc.unfinished_samples(session, "2026-10")
    assert [u.specialist for u in found] == ["ins_a", "ins_c"]
    ua, uc = found
    pending_a = [x for x in sampled_calls(session) if x.specialist_id == a.id and x.verdict is None]
    assert (ua.calls, ua.required, ua.sampled, ua.verified, ua.short) == (5, 3, 3, 1, 2)
    assert ua.unverified == tuple((x.id, x.attempt_id) for x in pending_a)
    assert ua.undrawn_attempt_ids == ()
    assert ua.evidence() == [{"kind": "sample_call", "id": x.id} for x in pending_a]
    # c: 4 calls now ask for 3 verdicts; both drawn calls are verified, the late ones never drawn
    assert (uc.calls, uc.required, uc.sampled, uc.verified, uc.short) == (4, 3, 2, 2, 1)
    assert uc.undrawn_attempt_ids == tuple(x.id for x in late)
    assert uc.evidence() == [{"kind": "call_attempt", "id": x.id} for x in late]
    # b's sample was finished; a second call of b's after the draw asks for 2 of 2
    b_late = call(session, b, october(30))
    ub = next(u for u in svc.unfinished_samples(session, OCTOBER) if u.specialist == "ins_b")
    assert (ub.calls, ub.required, ub.verified, ub.short, ub.undrawn_attempt_ids) == (2, 2, 1, 1, (b_late.id,))


def test_a_month_never_drawn_is_unfinished_and_a_finished_one_is_not(session, staff):
    own = calls(session, staff["a"], 2)
    found = svc.unfinished_samples(session, OCTOBER)
    assert len(found) == 1 and found[0].short == 2 and found[0].undrawn_attempt_ids == tuple(x.id for x in own)
    draw(session, staff)
    for target in sampled_calls(session):
        svc.record_verdict(session, target, "to_standard", "", user=staff["manager"], actor=ACTOR, now=NOW)
    assert svc.unfinished_samples(session, OCTOBER) == []
    assert svc.unfinished_samples(session, "2026-08") == []


def test_unfinished_as_it_stood_at_a_moment(session, staff):
    """Verdicts (and draws) after ``as_of`` do not count: the sample at the month's end."""
    calls(session, staff["a"], 2)
    draw(session, staff)  # at NOW
    targets = sampled_calls(session)
    svc.record_verdict(session, targets[0], "to_standard", "", user=staff["manager"], actor=ACTOR, now=NOW)
    svc.record_verdict(session, targets[1], "to_standard", "", user=staff["manager"], actor=ACTOR, now=NOW + timedelta(days=3))
    assert svc.unfinished_samples(session, OCTOBER) == []
    then = svc.unfinished_samples(session, OCTOBER, as_of=NOW + timedelta(days=1))
    assert [(u.verified, u.short, u.unverified) for u in then] == [(1, 1, ((targets[1].id, targets[1].attempt_id),))]
    before_draw = svc.unfinished_samples(session, OCTOBER, as_of=NOW - timedelta(days=1))
    assert before_draw[0].sampled == 0 and len(before_draw[0].undrawn_attempt_ids) == 2
