"""The task-generation page for managers: runs, one run, "generate now"."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import time_machine
from sqlalchemy import select

from care.extensions import db
from care.models import AuditLog, CareTask, GenerationRun
from tests import factories as f

NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # 10:00 at the dealer
EN = {"Accept-Language": "en"}


def add_run(app, day: date, **kw) -> int:
    with app.app_context():
        run = GenerationRun(for_date=day, actor=kw.pop("actor", "scheduler"), started_at=NOW, **kw)
        db.session.add(run)
        db.session.commit()
        return run.id


def test_empty_state(client, login_as):
    login_as("care_manager")
    page = client.get("/generation/", headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "The generator has not run yet." in html
    assert "Generate now" in html


def test_runs_are_listed_newest_first_with_labels(app, client, login_as):
    add_run(app, date(2026, 3, 18), created_total=0)
    add_run(app, date(2026, 3, 19), created_total=5, created={"birthday": 2, "first_service": 3},
            skipped={"birthday": {"consent": 1}, "first_service": {"already_exists": 4}}, duration_ms=12)  # fmt: skip
    login_as("general_manager")
    html = client.get("/generation/", headers=EN).get_data(as_text=True)
    assert html.index("2026-03-19") < html.index("2026-03-18")
    assert "Birthday 2" in html and "First service 3" in html
    assert "no consent to any channel 1" in html and "already exists 4" in html
    assert "automatic (daily)" in html
    assert "Generate now" not in html  # the general manager watches, does not run


def test_page_and_fragment(app, client, login_as):
    add_run(app, date(2026, 3, 19))
    login_as("care_manager")
    fragment = client.get("/generation/", headers={"HX-Request": "true", **EN})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="generation-runs"' in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_pagination(app, client, login_as):
    for n in range(30):
        add_run(app, date(2026, 1, 1) + timedelta(days=n))
    login_as("admin")
    first = client.get("/generation/", headers=EN).get_data(as_text=True)
    assert "2026-01-30" in first and "2026-01-01" not in first and "Page 1 of 2" in first
    second = client.get("/generation/?page=2", headers=EN).get_data(as_text=True)
    assert "2026-01-01" in second and "2026-01-30" not in second
    assert client.get("/generation/?page=abc").status_code == 400


def test_run_page(app, client, login_as):
    run_id = add_run(app, date(2026, 3, 19), created_total=2, created={"birthday": 2},
                     skipped={"birthday": {"no_channel": 1}}, actor="cli")  # fmt: skip
    login_as("care_manager")
    page = client.get(f"/generation/{run_id}", headers=EN)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Care tasks of 2026-03-19" in html and "Birthday" in html and "command line" in html
    assert "no channel reaches the customer" in html
    fragment = client.get(f"/generation/{run_id}", headers={"HX-Request": "true", **EN})
    assert 'id="generation-run"' in fragment.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    assert client.get("/generation/999999").status_code == 404


def test_generate_now(app, client, login_as):
    with app.app_context():
        f.make_user(db.session, "specialist", username="spec")
        f.make_customer(db.session, birthday=date(1980, 3, 20))
        db.session.commit()
    with time_machine.travel(NOW, tick=False):
        user = login_as("care_manager")
        response = client.post("/generation/now", headers=EN)
        assert response.status_code == 303
        page = client.get(response.headers["Location"], headers=EN)
        html = page.get_data(as_text=True)
        assert "Generated 1 day: 1 new task(s)." in html
        # again: today is generated again (an explicit request), nothing new
        again = client.post("/generation/now", headers=EN, follow_redirects=True)
        assert "Generated 1 day: 0 new task(s)." in again.get_data(as_text=True)
    with app.app_context():
        runs = db.session.scalars(select(GenerationRun).order_by(GenerationRun.id)).all()
        assert [(r.for_date, r.actor) for r in runs] == [(date(2026, 3, 20), user.username)] * 2
        assert runs[1].skipped == {"birthday": {"already_exists": 1}}
        assert len(db.session.scalars(select(CareTask)).all()) == 1
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "generation.run"))
        assert entry.actor == user.username and entry.detail["days"] == ["2026-03-20"]


def test_generate_now_catches_up_missed_days(app, client, login_as):
    add_run(app, date(2026, 3, 17))
    with time_machine.travel(NOW, tick=False):
        login_as("admin")
        response = client.post("/generation/now", headers=EN, follow_redirects=True)
    assert "Generated 3 days" in response.get_data(as_text=True)
    with app.app_context():
        days = db.session.scalars(select(GenerationRun.for_date).order_by(GenerationRun.for_date)).all()
        assert days == [date(2026, 3, d) for d in (17, 18, 19, 20)]


def test_roles(client, login_as):
    login_as("specialist")
    assert client.get("/generation/").status_code == 403
    assert client.post("/generation/now").status_code == 403


def test_general_manager_cannot_generate(app, client, login_as):
    login_as("general_manager")
    assert client.get("/generation/").status_code == 200
    assert client.post("/generation/now").status_code == 403
    with app.app_context():
        assert db.session.scalars(select(GenerationRun)).all() == []


def test_nav_link_for_managers_only(client, login_as):
    login_as("care_manager")
    assert 'href="/generation/"' in client.get("/customers/", headers=EN).get_data(as_text=True)
    client.post("/auth/logout")
    login_as("specialist")
    assert 'href="/generation/"' not in client.get("/customers/", headers=EN).get_data(as_text=True)
