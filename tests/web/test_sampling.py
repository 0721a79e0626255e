"""The insurance QA sample page (care/web/sampling.py, R21): the month's state, the draw and
its top-up, verdicts with htmx and without, progress, and who sees whose calls."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from care.extensions import db
from care.models import AuditLog, SampleCall, SampleDraw
from care.services import Actor
from care.services import sampling as svc
from tests import factories
from tests.services.helpers_sampling import NOW, OCTOBER, call, calls, october

HX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}
RECORDING = "https://recordings.example/sample-1.mp3"
PAGE = "/sampling/?month=2026-10"


@pytest.fixture(autouse=True)
def in_november(app):
    app.config["CARE_NOW"] = NOW.isoformat()  # the request's time (care.web.calls.now)


@pytest.fixture
def world(app):
    """Two insurance specialists' October calls (5 of A's, 2 of B's); A's first call has a
    recording; one of B's customers asked not to be called."""
    with app.app_context():
        s = db.session
        a = factories.make_user(s, "insurance", username="ins_a", display_name="保险 赵敏")
        b = factories.make_user(s, "insurance", username="ins_b", display_name="保险 孙丽")
        a_calls = calls(s, a, 4, start_day=3)
        a_calls.insert(0, call(s, a, october(2), recording_url=RECORDING))
        quiet = factories.make_customer(s, name="免打扰客户", no_call=True, no_call_by="cm", mobile="+8613912345678")
        from tests.services.helpers_sampling import insurance_task

        b_calls = [call(s, b, october(9), task=insurance_task(s, b, quiet)), call(s, b, october(10))]
        s.commit()
        return {"a": a.id, "b": b.id, "a_calls": [x.id for x in a_calls], "b_calls": [x.id for x in b_calls]}


def drawn(app, seed=5):
    with app.app_context():
        record = svc.draw_sample(db.session, OCTOBER, seed=seed, user=None, actor=Actor.CLI, now=NOW)
        db.session.commit()
        return record.id


def sample_calls(app, **where) -> list[SampleCall]:
    with app.app_context():
        query = select(SampleCall).where(SampleCall.sampled).order_by(SampleCall.id)
        for name, value in where.items():
            query = query.where(getattr(SampleCall, name) == value)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def text_of(response) -> str:
    return response.get_data(as_text=True)


# --- the page in its states --------------------------------------------------------------------


def test_a_month_without_calls(client, login_as, world):
    login_as("care_manager")
    r = client.get("/sampling/?month=2026-08", headers=EN)
    assert r.status_code == 200
    html = text_of(r)
    assert "No insurance-renewal call reached a customer in 2026-08: there is nothing to sample." in html
    assert "Draw the sample" not in html and "sample-calls" not in html


def test_a_month_not_drawn_offers_the_draw_to_the_care_manager_only(client, login_as, world):
    login_as("care_manager")
    html = text_of(client.get(PAGE, headers=EN))
    # 3 of A's 5, 2 of B's 2
    assert "Not drawn yet" in html and "7 calls by 2 specialists so far; the sample will take 5 of them." in html
    assert 'action="/sampling/draw"' in html and "Draw the sample" in html
    assert 'data-specialist="ins_a"' in html  # the progress table shows what is to come


def test_a_specialist_without_calls_is_told_so(client, login_as, world):
    login_as("insurance")
    html = text_of(client.get(PAGE, headers=EN))
    assert "None of your insurance-renewal calls of 2026-10 reached a customer." in html
    assert "Draw the sample" not in html and "ins_a" not in html


def test_a_manager_who_does_not_draw_sees_no_form(client, login_as, world):
    login_as("general_manager")
    html = text_of(client.get(PAGE, headers=EN))
    assert "Not drawn yet" in html and 'action="/sampling/draw"' not in html


def test_a_future_month(client, login_as, world):
    login_as("care_manager")
    html = text_of(client.get("/sampling/?month=2099-12", headers=EN))
    assert "2099-12 has not begun" in html and "Draw the sample" not in html


def test_the_default_month_is_last_month(client, login_as, world):
    login_as("care_manager")
    html = text_of(client.get("/sampling/", headers=EN))
    assert 'value="2026-10"' in html and 'data-month="2026-10"' in html
    assert 'href="/sampling/?month=2026-09"' in html and "2026-11 ›" in html


@pytest.mark.parametrize("month", ["2026-13", "soon", "1999-12", "2026-10-01"])
def test_a_bad_month_is_400(client, login_as, month):
    login_as("care_manager")
    r = client.get(f"/sampling/?month={month}", headers=EN)
    assert r.status_code == 400
    assert "is not a month" in text_of(r) or "between 2000-01 and 2099-12" in text_of(r)


def test_a_bad_page_is_400(client, login_as, world):
    login_as("care_manager")
    assert client.get(PAGE + "&page=0", headers=EN).status_code == 400


def test_the_drawn_sample_with_who_drew_it_and_the_fragment(app, client, login_as, world):
    drawn(app, seed=77)
    login_as("care_manager")
    r = client.get(PAGE, headers=EN)
    html = text_of(r)
    assert "Drawn on" in html and "by cli" in html and "seed 77" in html and "rate 60%" in html.replace("\xa0", "")
    sampled = sample_calls(app)
    assert len(sampled) == 5 and html.count('<tr id="sample-call-') == 5
    for c in sampled:
        assert f'id="sample-call-{c.id}"' in html
    assert "Sampled calls" in html and "(5)" in html
    assert r.headers["Vary"] == "HX-Request" or "HX-Request" in r.headers["Vary"]
    fragment = text_of(client.get(PAGE, headers={**EN, **HX}))
    assert "<html" not in fragment and 'id="sample"' in fragment and 'id="sample-call-' in fragment


def test_each_call_shows_customer_specialist_outcome_duration_and_call_back(app, client, login_as, world):
    drawn(app)
    login_as("care_manager")
    html = text_of(client.get(PAGE, headers=EN))
    assert "保险 赵敏" in html and "保险 孙丽" in html
    assert "Connected · 1:35 min" in html and "Insurance renewal:</span> Will renew with us" in html
    assert html.count('class="button call-back"') == 4  # B's quiet customer: no call-back
    assert "免打扰客户" in html and "No calls" in html
    # a calling role sees the whole number (the factories number customers +86138NNNNNNNN,
    # N from a counter shared by the worker's tests: its digits depend on what ran before)
    assert re.search(r"138 \d{4} \d{4}", html)
    assert RECORDING in html and "<audio controls" in html


def test_a_manager_who_does_not_call_sees_masked_phones_and_no_call_back(app, client, login_as, world):
    drawn(app)
    login_as("general_manager")
    html = text_of(client.get(PAGE, headers=EN))
    assert "139****5678" in html
    assert not re.search(r"138 \d{4} \d{4}", html) and "call-back" not in html
    assert "verdict-form" not in html and "not verified yet" in html
    assert RECORDING in html  # a manager may hear any call (care.domain.access.ATTEMPT_READERS)


def test_pages(app, client, login_as, world):
    app.config["CARE_PAGE_SIZE"] = 2
    drawn(app)
    login_as("care_manager")
    first = text_of(client.get(PAGE, headers=EN))
    assert first.count('<tr id="sample-call-') == 2 and "Page 1 of 3" in first
    assert 'href="/sampling/?page=2&amp;month=2026-10"' in first or 'href="/sampling/?month=2026-10&amp;page=2"' in first
    last = text_of(client.get(PAGE + "&page=3", headers=EN))
    assert last.count('<tr id="sample-call-') == 1


# --- drawing ----------------------------------------------------------------------------------


def test_the_care_manager_draws_and_drawing_again_is_refused(app, client, login_as, world):
    login_as("care_manager")
    r = client.post("/sampling/draw", data={"month": "2026-10", "seed": "123"}, headers=EN)
    assert r.status_code == 303 and r.headers["Location"] == "/sampling/?month=2026-10"
    page = text_of(client.get(r.headers["Location"], headers=EN))
    assert "Sample of 2026-10 drawn: 5 of 7 calls (seed 123)." in page
    with app.app_context():
        record = db.session.scalars(select(SampleDraw)).one()
        assert record.seed == 123 and record.actor.startswith("user")
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "sample.draw")) == 1
    before = text_of(client.get(PAGE, headers=EN))
    again = client.post("/sampling/draw", data={"month": "2026-10"}, headers=EN)
    assert again.status_code == 409
    assert "was drawn on" in text_of(again) and "it is not drawn again" in text_of(again)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SampleDraw)) == 1
    after = text_of(client.get(PAGE, headers=EN))
    ids = re.compile(r'id="sample-call-(\d+)"')
    assert ids.findall(after) == ids.findall(before)


def test_a_late_call_waits_for_a_top_up(app, client, login_as, world):
    drawn(app)
    with app.app_context():
        late = call(db.session, db.session.get(factories.User, world["a"]), october(30)).id
        db.session.commit()
    login_as("care_manager")
    html = text_of(client.get(PAGE, headers=EN))
    assert "1 call was made after the last draw and is not in the sample." in html
    assert 'name="top_up" value="1"' in html and "1 new" in html
    r = client.post("/sampling/draw", data={"month": "2026-10", "top_up": "1"}, headers=EN)
    assert r.status_code == 303
    page = text_of(client.get(r.headers["Location"], headers=EN))
    assert "Top-up drawn for 2026-10: 1 of 1 new calls" in page
    assert "Top-up 1 drawn on" in page and "made after the last draw" not in page.split("Progress")[0]
    with app.app_context():
        assert db.session.scalars(select(SampleCall.sampled).where(SampleCall.attempt_id == late)).one() is True
    nothing = client.post("/sampling/draw", data={"month": "2026-10", "top_up": "1"}, headers=EN)
    assert nothing.status_code == 409 and "nothing to top up" in text_of(nothing)


@pytest.mark.parametrize(
    "data, status, message",
    [
        ({"month": "2026-10", "seed": "-3"}, 422, "The seed must be a whole number from 0 to 2147483647."),
        ({"month": "2026-10", "seed": "9" * 12}, 422, "The seed must be a whole number"),
        ({"month": "2099-12"}, 422, "2099-12 has not begun"),
        ({"month": "2026-08"}, 409, "there is nothing to sample"),
        ({"month": "2026-10", "top_up": "1"}, 409, "has not been drawn yet"),
        ({}, 400, "is not a month"),
    ],
)
def test_a_refused_draw_says_why_and_writes_nothing(app, client, login_as, world, data, status, message):
    login_as("care_manager")
    r = client.post("/sampling/draw", data=data, headers=EN)
    assert r.status_code == status
    assert message in text_of(r)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SampleDraw)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("sample%"))) == 0


# --- verdicts ----------------------------------------------------------------------------------


def test_a_verdict_with_htmx_returns_the_row_and_the_progress(app, client, login_as, world):
    drawn(app)
    login_as("care_manager")
    target = sample_calls(app, specialist_id=world["a"])[0]
    r = client.post(
        f"/sampling/calls/{target.id}/verdict", data={"verdict": "not_to_standard", "note": "没有说明续保优惠", "page": "1"},
        headers={**EN, **HX},
    )  # fmt: skip
    assert r.status_code == 200
    html = text_of(r)
    assert html.lstrip().startswith(f'<tr id="sample-call-{target.id}"') and 'data-verdict="not_to_standard"' in html
    assert 'value="not_to_standard" checked' in html and "没有说明续保优惠" in html
    assert "✓ Done not to standard · by" in html
    assert json.loads(r.headers["HX-Trigger"]) == {"sample-changed": {"call": target.id}}
    # the progress panel listens for it and reloads from the page's fragment
    fragment = text_of(client.get(PAGE, headers={**EN, **HX}))
    progress = fragment[fragment.index('<section id="sample-progress"'):]
    assert 'hx-trigger="sample-changed from:body"' in progress and 'hx-select="#sample-progress"' in progress
    row_a = re.search(r'data-specialist="ins_a".*?</tr>', progress, re.S).group(0)
    assert "<td class=\"num\" data-verified>1</td>" in row_a and "33%" in row_a.replace("\xa0", "")
    with app.app_context():
        saved = db.session.get(SampleCall, target.id)
        assert (saved.verdict, saved.note) == ("not_to_standard", "没有说明续保优惠")
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "sample.verdict")).one()
        assert entry.object_id == str(target.id) and entry.user_id is not None


def test_a_verdict_without_htmx_goes_back_to_the_page(app, client, login_as, world):
    drawn(app)
    login_as("care_manager")
    target = sample_calls(app)[0]
    r = client.post(f"/sampling/calls/{target.id}/verdict", data={"verdict": "to_standard", "page": "2"}, headers=EN)
    assert r.status_code == 303
    assert r.headers["Location"] == f"/sampling/?month=2026-10&page=2#sample-call-{target.id}"
    page = text_of(client.get("/sampling/?month=2026-10", headers=EN))
    assert "Verdict saved on call" in page and "Done to standard" in page


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "Choose a verdict"),
        ({"verdict": "excellent"}, "Choose a verdict"),
        ({"verdict": "not_done"}, "Say in the note what was wrong."),
        ({"verdict": "to_standard", "note": "x" * 2001}, "at most 2000 characters"),
    ],
)
def test_a_bad_verdict_is_422_with_the_row_and_writes_nothing(app, client, login_as, world, data, message):
    drawn(app)
    login_as("care_manager")
    target = sample_calls(app)[0]
    r = client.post(f"/sampling/calls/{target.id}/verdict", data=data, headers={**EN, **HX})
    assert r.status_code == 422
    html = text_of(r)
    assert html.lstrip().startswith(f'<tr id="sample-call-{target.id}"') and message in html and 'role="alert"' in html
    plain = client.post(f"/sampling/calls/{target.id}/verdict", data=data, headers=EN)
    assert plain.status_code == 422 and message in text_of(plain) and "<html" in text_of(plain)
    with app.app_context():
        assert db.session.get(SampleCall, target.id).verdict is None
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "sample.verdict")) == 0


def test_verdicts_only_on_sampled_calls_that_exist(app, client, login_as, world):
    drawn(app)
    login_as("care_manager")
    with app.app_context():
        left_out = db.session.scalars(select(SampleCall.id).where(SampleCall.sampled.is_(False))).first()
    if left_out is not None:
        assert client.post(f"/sampling/calls/{left_out}/verdict", data={"verdict": "to_standard"}).status_code == 409
    assert client.post("/sampling/calls/999999/verdict", data={"verdict": "to_standard"}).status_code == 404
    assert client.post("/sampling/calls/0/verdict", data={"verdict": "to_standard"}).status_code == 404


def test_the_form_needs_its_csrf_token(app, client, login_as, world):
    drawn(app)
    login_as("care_manager")
    app.config["WTF_CSRF_ENABLED"] = True
    target = sample_calls(app)[0]
    assert client.post(f"/sampling/calls/{target.id}/verdict", data={"verdict": "to_standard"}).status_code == 400
    assert client.post("/sampling/draw", data={"month": "2026-10"}).status_code == 400


# --- who sees whose calls (the ownership matrix of the sample) -------------------------------------

# Who asks: the owner of A's calls, B (another insurance specialist), the managers, and
# roles that may not open the page. ``sees``: whose calls the page lists to them;
# ``verdict``: the answer to a verdict on A's sampled call (an empty form: 422 for the one
# who may judge).
OWNERS = {
    "owner": ("insurance", "a", {"a"}, 403),
    "peer": ("insurance", "b", {"b"}, 403),
    "care_manager": ("care_manager", None, {"a", "b"}, 422),
    "general_manager": ("general_manager", None, {"a", "b"}, 403),
    "sales_manager": ("sales_manager", None, {"a", "b"}, 403),
    "specialist": ("specialist", None, None, 403),
    "consultant": ("consultant", None, None, 403),
    "front_desk": ("front_desk", None, None, 403),
    "admin": ("admin", None, None, 403),
}


def test_the_call_back_link_is_the_care_managers(app, client, world):
    """A specialist sees their own sampled calls, without the supervisor's call-back."""
    drawn(app)
    client.post("/auth/login", data={"username": "ins_a", "password": factories.PASSWORD})
    html = text_of(client.get(PAGE, headers=EN))
    assert 'id="sample-call-' in html and "call-back" not in html


@pytest.mark.parametrize("who", sorted(OWNERS))
def test_who_sees_whose_sampled_calls_and_who_judges(app, client, world, who):
    drawn(app)
    role, as_user, sees, verdict_status = OWNERS[who]
    with app.app_context():
        if as_user is None:
            user = factories.make_user(db.session, role, username=f"who_{who}")
            db.session.commit()
            username = user.username
        else:
            username = f"ins_{as_user}"
    assert client.post("/auth/login", data={"username": username, "password": factories.PASSWORD}).status_code == 303
    r = client.get(PAGE, headers=EN)
    a_sampled = [c.id for c in sample_calls(app, specialist_id=world["a"])]
    b_sampled = [c.id for c in sample_calls(app, specialist_id=world["b"])]
    if sees is None:
        assert r.status_code == 403
    else:
        assert r.status_code == 200
        html = text_of(r)
        listed = {int(x) for x in re.findall(r'id="sample-call-(\d+)"', html)}
        expected = (set(a_sampled) if "a" in sees else set()) | (set(b_sampled) if "b" in sees else set())
        assert listed == expected
        assert ('data-specialist="ins_a"' in html) == ("a" in sees)
        assert ('data-specialist="ins_b"' in html) == ("b" in sees)
        # the recording of A's first call: to A (its caller) and the managers, never B
        assert (RECORDING in html) == ("a" in sees)
    r = client.post(f"/sampling/calls/{a_sampled[0]}/verdict", data={}, headers=HX)
    assert r.status_code == verdict_status
    assert client.post("/sampling/draw", data={"month": "2026-10", "top_up": "1"}).status_code == (
        409 if role == "care_manager" else 403
    )


def test_the_navigation_links_the_page_for_those_who_may_open_it(app, client, world):
    for role, shown in (("care_manager", True), ("insurance", True), ("general_manager", True), ("specialist", False), ("admin", False)):
        c = app.test_client()
        with app.app_context():
            username = factories.make_user(db.session, role).username
            db.session.commit()
        c.post("/auth/login", data={"username": username, "password": factories.PASSWORD})
        html = text_of(c.get("/auth/password", headers=EN))
        assert ('href="/sampling/"' in html) == shown, role
