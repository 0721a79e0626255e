"""Scripts (话术): versions, merge contexts of tasks, previews, defaults, outcomes per version."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from care.domain import scripts as dom
from care.domain.lapsed import loss_reason_words
from care.domain.task_rules import TaskType
from care.models import AuditLog, CareTask, Script, ScriptVersion, TaskOutcome
from care.services import Actor, ServiceError
from care.services import scripts as svc
from care.services.settings import set_settings
from tests import factories

NOW = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
_seq = itertools.count(1)


def make_task(session, customer, *, type="first_service", vehicle=None, **kw) -> CareTask:
    n = next(_seq)
    values = {
        "type": type,
        "cycle_key": f"test:{type}:{n}",
        "customer_id": customer.id,
        "vehicle_id": vehicle.id if vehicle else None,
        "opens_on": date(2026, 3, 15),
        "due_at": datetime(2026, 4, 15, 15, 59, 59, tzinfo=UTC),  # 23:59:59 in Shanghai
        "owner_rule": "round_robin",
        "reason_id": f"{type}.reason",
    }
    values.update(kw)
    task = CareTask(**values)
    session.add(task)
    session.flush()
    return task


def save(session, body, *, task_type="first_service", title="首保提醒", note=None, user=None, **kw):
    return svc.save_version(session, task_type, title=title, body=body, note=note, user=user, now=NOW, **kw)


@pytest.fixture
def manager(session):
    return factories.make_user(session, "care_manager", display_name="刘经理")


# --- versions --------------------------------------------------------------------------


def test_each_save_is_a_new_version_and_old_ones_stay_readable(session, manager):
    assert svc.current_version(session, "first_service") is None
    v1 = save(session, "您好{customer_name}", user=manager)
    v2 = save(session, "您好{salutation}", note="改用称呼", user=manager)
    v3 = save(session, "{salutation}，您好！", title="首保提醒（新）", user=manager)
    assert [v1.version, v2.version, v3.version] == [1, 2, 3]
    assert svc.current_version(session, "first_service").id == v3.id
    assert [v.version for v in svc.versions(session, "first_service")] == [3, 2, 1]
    old = svc.get_version(session, "first_service", 1)
    assert old.body == "您好{customer_name}" and old.created_by_id == manager.id
    assert svc.get_version(session, "first_service", 2).note == "改用称呼"
    assert svc.previous_version(session, v3).id == v2.id and svc.previous_version(session, v1) is None
    assert session.scalar(select(func.count()).select_from(Script)) == 1
    entries = session.scalars(select(AuditLog).where(AuditLog.action == "script.save")).all()
    assert [e.detail["version"] for e in entries] == [1, 2, 3]
    assert entries[0].object_id == "first_service" and entries[0].detail["fields"] == ["customer_name"]


def test_scripts_of_different_task_types_are_versioned_apart(session, manager):
    save(session, "首保{plate}", user=manager)
    other = save(session, "生日快乐{salutation}", task_type="birthday", title="生日", user=manager)
    assert other.version == 1
    assert svc.current_version(session, TaskType.BIRTHDAY).body == "生日快乐{salutation}"


def test_an_identical_body_is_refused(session, manager):
    save(session, "第一行\n{plate}", user=manager)
    with pytest.raises(ServiceError) as exc:
        save(session, "\r\n第一行  \r\n{plate}\r\n", title="别的标题", user=manager)  # same after normalizing
    assert exc.value.field == "body" and "No change" in str(exc.value)
    assert svc.current_version(session, "first_service").version == 1


def test_an_invalid_body_is_refused_with_positions(session, manager):
    with pytest.raises(svc.ScriptInvalid) as exc:
        save(session, "您好{custmer_name}\n车牌{plate", user=manager)
    problems = exc.value.problems
    assert [(p.code, p.line, p.column) for p in problems] == [("unknown_field", 1, 3), ("unclosed_brace", 2, 3)]
    assert exc.value.field == "body" and exc.value.params == {"count": 2}
    assert svc.current_version(session, "first_service") is None


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "标" * 201}, "title"),
        ({"body": " \n "}, "body"),
        ({"body": "字" * (dom.MAX_BODY + 1)}, "body"),
        ({"note": "注" * 501}, "note"),
    ],
)
def test_bad_inputs_are_refused(session, manager, kw, field):
    args = {"title": "标题", "body": "正文{plate}", "note": None} | kw
    with pytest.raises(ServiceError) as exc:
        svc.save_version(session, "first_service", user=manager, now=NOW, **args)
    assert exc.value.field == field


def test_an_unknown_task_type_is_refused(session, manager):
    with pytest.raises(ServiceError) as exc:
        save(session, "x", task_type="holiday", user=manager)
    assert exc.value.field == "task_type"


def test_a_version_saved_meanwhile_is_a_conflict(session, manager):
    save(session, "v1", user=manager, base_version=0)
    save(session, "v2", user=manager, base_version=1)
    with pytest.raises(svc.VersionConflict) as exc:
        save(session, "v2 from a stale page", user=manager, base_version=1)
    assert exc.value.current.version == 2
    with pytest.raises(svc.VersionConflict):
        save(session, "from a page that saw no version", user=manager, base_version=0)
    assert save(session, "first", task_type="birthday", user=manager, base_version=3).version == 1


# --- defaults --------------------------------------------------------------------------


def test_ensure_default_scripts_covers_every_task_type_and_is_idempotent(session):
    created = svc.ensure_default_scripts(session, now=NOW)
    assert created == [t.value for t in TaskType]
    for tt in TaskType:
        sv = svc.current_version(session, tt)
        assert sv.version == 1 and sv.title == dom.DEFAULT_SCRIPTS[tt][0]
        assert dom.validate(sv.body) == ()
    assert svc.ensure_default_scripts(session, now=NOW) == []
    assert session.scalar(select(func.count()).select_from(ScriptVersion)) == len(TaskType)


def _store_earlier_default(session, task_type, body, *, user=None, version=1, note=svc.DEFAULT_NOTE):
    script = svc.get_script(session, task_type) or Script(task_type=task_type, created_at=NOW)
    session.add(script)
    session.flush()
    session.add(ScriptVersion(script_id=script.id, version=version, title="旧标题", body=body, note=note,
                              created_by_id=user.id if user else None, created_at=NOW))  # fmt: skip
    session.flush()


# The lapsed recall's default as releases before issue 10 stored it: its own list of loss
# reasons, which differed from the outcome form's.
EARLIER_LAPSED = dom.normalize_body(
    dom.DEFAULT_SCRIPTS[TaskType.LAPSED_RECALL][1]
    .replace("{loss_reasons}", "距离较远、价格、服务态度、维修质量、其他")
    .replace("请问您现在方便接听电话吗", "请问现在方便接听电话吗")
)


def test_an_earlier_default_nobody_edited_is_brought_up_to_date(session, manager):
    assert svc._digest(EARLIER_LAPSED) in svc.EARLIER_DEFAULTS["lapsed_recall"]
    _store_earlier_default(session, "lapsed_recall", EARLIER_LAPSED)
    svc.ensure_default_scripts(session, now=NOW)
    current = svc.current_version(session, "lapsed_recall")
    assert current.version == 2 and current.note == svc.UPDATED_DEFAULT_NOTE
    assert current.body == dom.normalize_body(dom.DEFAULT_SCRIPTS[TaskType.LAPSED_RECALL][1])
    assert svc.get_version(session, "lapsed_recall", 1).body == EARLIER_LAPSED  # kept for its outcomes
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "script.defaults")).one()
    assert entry.detail["updated"] == ["lapsed_recall"] and "lapsed_recall" not in entry.detail["created"]
    assert svc.ensure_default_scripts(session, now=NOW) == []  # idempotent
    assert svc.current_version(session, "lapsed_recall").version == 2


def test_an_earlier_default_someone_saved_again_is_left_alone(session, manager):
    """A care manager who saved the old default text chose it: it stays."""
    _store_earlier_default(session, "lapsed_recall", EARLIER_LAPSED, user=manager)
    svc.ensure_default_scripts(session, now=NOW)
    assert svc.current_version(session, "lapsed_recall").body == EARLIER_LAPSED


def test_ensure_default_scripts_leaves_written_scripts_alone(session, manager):
    save(session, "我们自己的首保话术{plate}", user=manager)
    session.add(Script(task_type="birthday", created_at=NOW))  # a script row without versions
    session.flush()
    created = svc.ensure_default_scripts(session, now=NOW)
    assert "first_service" not in created and "birthday" in created
    assert svc.current_version(session, "first_service").body == "我们自己的首保话术{plate}"
    assert svc.current_version(session, "birthday").version == 1


# --- merge context and rendering for a task ------------------------------------------------


@pytest.fixture
def world(session):
    specialist = factories.make_user(session, "specialist", display_name="张敏", extension="8012")
    consultant = factories.make_user(session, "consultant", display_name="李娜")
    customer = factories.make_customer(session, name="王伟", customer_no="C900001")
    vehicle = factories.make_vehicle(
        session,
        customer,
        plate="川A12345",
        model="速腾 1.4T",
        vin=factories.vin_for(900001),
        delivery_date=date(2026, 1, 15),
        mileage=4800,
        warranty_end=date(2029, 1, 14),
        warranty_km=100000,
        inspection_due=date(2028, 1, 31),
        consultant_id=consultant.id,
    )
    policy = factories.make_policy(session, vehicle, insurer="中国人保", expiry=date(2026, 5, 20))
    factories.make_visit(session, vehicle, date=date(2025, 9, 20), kind="maintenance", mileage=3000)
    factories.make_visit(session, vehicle, date=date(2025, 12, 1), kind="repair", mileage=4000)
    return {"specialist": specialist, "customer": customer, "vehicle": vehicle, "policy": policy}


def test_merge_context_of_a_task(session, world):
    set_settings(session, {"dealer_name": "成都一汽-大众4S店"}, actor=Actor("t"), now=NOW)
    task = make_task(session, world["customer"], vehicle=world["vehicle"], assignee_id=world["specialist"].id)
    ctx = svc.merge_context(session, task, now=NOW)
    assert ctx["customer_name"] == "王伟" and ctx["salutation"] == "王伟车主"
    assert ctx["plate"] == "川A12345" and ctx["model"] == "速腾 1.4T"
    assert ctx["vin_last6"] == world["vehicle"].vin[-6:]
    assert ctx["due_date"] == date(2026, 4, 15)  # the dealer's date of the deadline
    assert ctx["today"] == date(2026, 3, 16)
    assert ctx["mileage"] == 4800 and ctx["warranty_km"] == 100000
    assert ctx["insurer"] == "中国人保" and ctx["policy_expiry"] == date(2026, 5, 20)
    assert ctx["last_visit_date"] == date(2025, 12, 1) and ctx["last_service_date"] == date(2025, 9, 20)
    assert ctx["consultant_name"] == "李娜"
    assert ctx["dealer_name"] == "成都一汽-大众4S店"
    assert ctx["specialist_name"] == "张敏" and ctx["specialist_extension"] == "8012"
    assert ctx["first_service_months"] == 3 and ctx["service_interval_km"] == 5000
    assert set(ctx) == set(dom.BY_NAME)


def test_render_for_task_uses_the_current_version_or_the_one_asked(session, world, manager):
    task = make_task(session, world["customer"], vehicle=world["vehicle"], assignee_id=world["specialist"].id)
    assert svc.render_for_task(session, task, now=NOW) == ""  # no script yet
    save(session, "{salutation}，您好！我是{specialist_name}。车牌{plate}，首保截止{due_date}。", user=manager)
    save(session, "新版：{plate}", user=manager)
    assert svc.render_for_task(session, task, now=NOW) == "新版：川A12345"
    old = svc.render_for_task(session, task, version=1, now=NOW)
    assert old == "王伟车主，您好！我是张敏。车牌川A12345，首保截止2026年4月15日。"
    v1 = svc.get_version(session, "first_service", 1)
    assert svc.render_for_task(session, task, version=v1, now=NOW) == old
    other = factories.make_user(session, "specialist", display_name="陈晨")
    assert "我是陈晨" in svc.render_for_task(session, task, version=1, user=other, now=NOW)


def test_a_task_without_vehicle_uses_the_customer_s_first_and_missing_data_shows(session, world, manager):
    bare = factories.make_customer(session, name="赵六")
    task = make_task(session, bare, type="birthday")
    save(session, "{salutation}生日快乐！车牌{plate}，专员{specialist_name}", task_type="birthday", user=manager)
    assert svc.render_for_task(session, task, now=NOW) == "赵六车主生日快乐！车牌【车牌】，专员【专员姓名】"
    task2 = make_task(session, world["customer"], type="birthday")
    assert "车牌川A12345" in svc.render_for_task(session, task2, now=NOW)


def test_a_service_callback_names_its_visit(session, world):
    visit = factories.make_visit(session, world["vehicle"], date=date(2026, 3, 2), kind="repair")
    factories.make_visit(session, world["vehicle"], date=date(2026, 3, 10), kind="repair")
    task = make_task(session, world["customer"], type="service_callback", vehicle=world["vehicle"], visit_id=visit.id)
    assert svc.merge_context(session, task, now=NOW)["visit_date"] == date(2026, 3, 2)


# --- preview on a customer ---------------------------------------------------------------


def test_find_customer_by_number_or_id(session, world):
    c = world["customer"]
    assert svc.find_customer(session, "C900001") is c
    assert svc.find_customer(session, f" {c.id} ") is c
    assert svc.find_customer(session, "nobody") is None
    assert svc.find_customer(session, "99999999999999999999") is None
    assert svc.find_customer(session, "") is None


def test_preview_on_a_customer_is_audited_as_a_customer_view(session, world, manager):
    body = "{salutation}：{plate} 首保截止{due_date}"
    result = svc.preview(session, "first_service", body=body, customer=world["customer"], user=manager, now=NOW, ip="10.0.0.9")
    assert result.text == "王伟车主：川A12345 首保截止2026年4月15日"  # delivery + 3 months
    assert result.source.customer is world["customer"] and result.source.task is None
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "customer.view"))
    assert entry.object_id == str(world["customer"].id) and entry.user_id == manager.id and entry.ip == "10.0.0.9"
    assert entry.detail == {"via": "script.preview", "task_type": "first_service", "version": None}


def test_preview_uses_the_customer_s_task_of_that_type_when_there_is_one(session, world, manager):
    task = make_task(session, world["customer"], vehicle=world["vehicle"], due_at=datetime(2026, 4, 1, 15, 0, tzinfo=UTC))
    result = svc.preview(session, "first_service", body="{due_date}", customer=world["customer"], user=manager, now=NOW)
    assert result.text == "2026年4月1日" and result.source.task is task


@pytest.mark.parametrize(
    ("task_type", "expected"),
    [
        ("warranty_expiry", "2029年1月14日"),
        ("inspection", "2028年1月31日"),
        ("insurance_renewal", "2026年5月20日"),
        ("maintenance", "2026年3月20日"),  # last service 2025-09-20 + 6 months
        ("lapsed_recall", "【截止日期】"),
    ],
)
def test_preview_derives_the_deadline_from_the_data(session, world, manager, task_type, expected):
    result = svc.preview(session, task_type, body="{due_date}", customer=world["customer"], user=manager, now=NOW)
    assert result.text == expected


def test_preview_without_customer_uses_sample_values_and_is_not_audited(session, manager):
    result = svc.preview(session, "first_service", body="{plate}/{specialist_name}", customer=None, user=manager, now=NOW)
    assert result.text == "川A12345/刘经理" and result.source is None and result.missing == []
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_the_sample_preview_is_in_the_dealer_s_own_words(session, manager):
    """Sample customer data, but the dealer's name, rules and today are the real ones."""
    set_settings(session, {"dealer_name": "绵阳华西一汽-大众4S店", "first_service_deadline_months": "4"}, actor=Actor("t"), now=NOW)
    body = "{dealer_name}|{first_service_months}|{today}|{specialist_extension}|{loss_reasons}"
    result = svc.preview(session, "lapsed_recall", body=body, customer=None, user=manager, now=NOW)
    assert result.pieces[0].text == "绵阳华西一汽-大众4S店"
    assert result.text.split("|")[1:3] == ["4", "2026年3月16日"]
    assert result.text.split("|")[3] == manager.extension  # the person previewing, not a sample's
    assert result.text.split("|")[4] == loss_reason_words()
    nobody = svc.preview(session, "lapsed_recall", body="{specialist_name}", customer=None, user=None, now=NOW)
    assert nobody.text == "张敏"  # no one calling: the sample caller


def test_live_preview_audits_a_customer_once_within_the_window(session, world, manager):
    window = timedelta(minutes=10)
    for minutes in (0, 3, 9):
        svc.preview(session, "first_service", body="{plate}", customer=world["customer"], user=manager,
                    now=NOW + timedelta(minutes=minutes), audit_once_within=window)  # fmt: skip
    svc.preview(session, "first_service", body="{plate}", customer=world["customer"], user=manager,
                now=NOW + timedelta(minutes=25), audit_once_within=window)  # fmt: skip
    assert session.scalar(select(func.count()).where(AuditLog.action == "customer.view")) == 2


# --- outcomes per version ------------------------------------------------------------------


def test_outcome_stats_count_outcomes_by_version(session, world, manager):
    v1 = save(session, "v1 {plate}", user=manager)
    v2 = save(session, "v2 {plate}", user=manager)
    v3 = save(session, "v3 {plate}", user=manager)
    task = make_task(session, world["customer"], vehicle=world["vehicle"])
    other_type = make_task(session, world["customer"], type="birthday")

    def outcome(version, value, closes=True, on=task):
        session.add(TaskOutcome(task_id=on.id, outcome=value, closes_task=closes,
                                script_version_id=version.id if version else None, recorded_at=NOW))  # fmt: skip

    for value, closes in [("will_come", True), ("will_come", True), ("not_reached", False), ("declined", True)]:
        outcome(v1, value, closes)
    outcome(v2, "will_come")
    outcome(v2, "not_reached", False)
    outcome(None, "will_come")  # recorded without a version
    outcome(None, "will_come", on=other_type)  # another task type: not counted here
    session.flush()

    stats = svc.outcome_stats(session, "first_service")
    rows = {(r.version.version if r.version else None): r for r in stats.rows}
    assert [r.version.id if r.version else None for r in stats.rows] == [v3.id, v2.id, v1.id, None]
    assert rows[1].by_outcome == {"will_come": 2, "not_reached": 1, "declined": 1}
    assert rows[1].total == 4 and rows[1].closing == 3 and rows[1].closing_share == 0.75
    assert rows[2].by_outcome == {"will_come": 1, "not_reached": 1} and rows[2].closing_share == 0.5
    assert rows[3].total == 0 and rows[3].closing_share is None
    assert rows[None].by_outcome == {"will_come": 1}
    assert stats.outcomes == ["declined", "not_reached", "will_come"] and stats.total == 7
    assert svc.outcome_stats(session, "birthday").rows[-1].total == 1


def test_overview_lists_every_task_type(session, world, manager):
    svc.ensure_default_scripts(session, now=NOW)
    v2 = save(session, "新的首保话术{plate}", user=manager)
    task = make_task(session, world["customer"], vehicle=world["vehicle"])
    session.add(TaskOutcome(task_id=task.id, outcome="will_come", script_version_id=v2.id, recorded_at=NOW))
    session.flush()
    rows = {r.task_type: r for r in svc.overview(session)}
    assert list(rows) == list(TaskType)
    first = rows[TaskType.FIRST_SERVICE]
    assert first.current.id == v2.id and first.version_count == 2 and first.outcomes == 1
    assert first.current.created_by.label == "刘经理"
    assert rows[TaskType.BIRTHDAY].current.version == 1 and rows[TaskType.BIRTHDAY].outcomes == 0


def test_overview_without_scripts(session):
    rows = svc.overview(session)
    assert len(rows) == len(TaskType) and all(r.current is None and r.outcomes == 0 for r in rows)
