"""The insurance sample page in a real browser (R21): the care manager draws October's
sample, records verdicts with htmx (a refused one shows its error in the row), the progress
follows each verdict, and everything is still there after a reload; axe finds nothing on
the page in either language."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from care.extensions import db
from tests.browser.test_accessibility import AXE, TAGS
from tests.factories import PASSWORD, make_customer, make_user
from tests.services.helpers_sampling import NOW, call, calls, insurance_task, october

pytestmark = pytest.mark.browser

RECORDING = "https://recordings.example/october-1.mp3"


def seed(app, locale: str = "en") -> dict:
    app.config["CARE_NOW"] = NOW.isoformat()  # early November at the dealer
    with app.app_context():
        s = db.session
        make_user(s, "care_manager", username="cm", display_name="客服经理 周红梅", locale=locale)
        a = make_user(s, "insurance", username="ins_a", display_name="保险 赵敏")
        b = make_user(s, "insurance", username="ins_b", display_name="保险 孙丽")
        wang = make_customer(s, name="王小明", mobile="+8613800138000")
        first = call(s, a, october(2), task=insurance_task(s, a, wang), recording_url=RECORDING)
        for day in (5, 6):  # A: 3 calls, each recorded → 2 sampled
            call(s, a, october(day), recording_url=RECORDING)
        calls(s, b, 1, start_day=8)  # B: 1 call → 1 sampled
        s.commit()
        return {"a": a.id, "b": b.id, "recorded": first.id}


def log_in(page, live_server, username="cm"):
    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def progress_of(page, username: str) -> tuple[str, str]:
    row = page.locator(f'#sample-progress tr[data-specialist="{username}"]')
    return row.locator("[data-verified]").inner_text().strip(), row.locator("[data-progress]").inner_text().strip()


def expect_progress(page, username: str, verified: str, percent: str) -> None:
    """The progress panel reloads itself after a verdict (``sample-changed``): wait for it."""
    row = page.locator(f'#sample-progress tr[data-specialist="{username}"]')
    expect(row.locator("[data-verified]")).to_have_text(verified)
    expect(row.locator("[data-progress]")).to_have_text(percent)


def test_draw_judge_and_watch_the_progress(page, live_server):
    seed(live_server.app)
    log_in(page, live_server)
    page.goto(live_server("/sampling/?month=2026-10"))
    assert "Not drawn yet" in page.locator("#sample-status").inner_text()
    page.get_by_role("button", name="Draw the sample").click()
    page.wait_for_selector("text=Sample of 2026-10 drawn: 3 of 4 calls")
    rows = page.locator("tr.sample-call")
    assert rows.count() == 3
    assert progress_of(page, "ins_a") == ("0", "0%")

    # A verdict "to standard", saved with htmx: the row and the progress change in place.
    first = rows.nth(0)
    row_id = first.get_attribute("id")
    first.get_by_label("Done to standard").check()
    first.get_by_role("button", name="Save verdict").click()
    page.wait_for_selector(f'#{row_id}[data-verdict="to_standard"]')
    assert "✓ Done to standard · by 客服经理 周红梅" in page.locator(f"#{row_id}").inner_text()
    expect_progress(page, "ins_a", "1", "50%")
    assert page.url.endswith("/sampling/?month=2026-10")  # no page load: htmx swapped the row

    # "Not done" needs a note: refused in the row, then saved with one.
    second = page.locator("tr.sample-call").nth(1)
    second_id = second.get_attribute("id")
    second.get_by_label("Not done").check()
    second.get_by_role("button", name="Save verdict").click()
    page.wait_for_selector(f"#{second_id} .error")
    assert "Say in the note what was wrong." in page.locator(f"#{second_id} .error").inner_text()
    assert page.locator(f"#{second_id}").get_attribute("data-verdict") == ""
    assert progress_of(page, "ins_a") == ("1", "50%")
    row = page.locator(f"#{second_id}")
    assert row.get_by_label("Not done").is_checked()  # what was chosen is kept
    row.locator("textarea[name=note]").fill("录音中未提及续保")
    row.get_by_role("button", name="Save verdict").click()
    page.wait_for_selector(f'#{second_id}[data-verdict="not_done"]')
    expect_progress(page, "ins_a", "2", "100%")
    assert "done" in page.locator('#sample-progress tr[data-specialist="ins_a"]').inner_text()
    assert page.locator("#sample-progress [data-verified-total]").inner_text() == "2"

    # The recording plays in the page; the call-back leads to the contact page.
    recorded = page.locator("tr.sample-call audio")
    assert recorded.count() == 2  # A's two sampled calls; B's has no recording
    assert {recorded.nth(i).get_attribute("src") for i in range(2)} == {RECORDING}

    # After a reload everything is still there.
    page.reload()
    assert page.locator(f'#{row_id}[data-verdict="to_standard"]').count() == 1
    assert page.locator(f"#{second_id}").get_by_label("Not done").is_checked()
    assert page.locator(f"#{second_id} textarea[name=note]").input_value() == "录音中未提及续保"
    assert progress_of(page, "ins_a") == ("2", "100%")
    assert progress_of(page, "ins_b") == ("0", "0%")

    # Drawing again shows the same sample: the page says when and by whom it was drawn.
    status = page.locator("#sample-status").inner_text()
    assert re.search(r"Drawn on .+ by 客服经理 周红梅", status) and "Draw the sample" not in status
    page.locator("tr.sample-call").first.get_by_role("link", name="Call back").click()
    page.wait_for_url(re.compile(r"/tasks/contact/\d+$"))


def test_an_insurance_specialist_sees_only_their_own_calls_read_only(page, live_server):
    world = seed(live_server.app)
    from care.services import Actor
    from care.services import sampling as svc
    from tests.services.helpers_sampling import OCTOBER

    with live_server.app.app_context():
        svc.draw_sample(db.session, OCTOBER, seed=3, user=None, actor=Actor.CLI, now=NOW)
        db.session.commit()
    log_in(page, live_server, "ins_b")
    page.goto(live_server("/sampling/?month=2026-10"))
    assert page.locator("tr.sample-call").count() == 1
    assert page.locator("#sample-progress tr[data-specialist]").count() == 1
    assert page.locator("form.verdict-form").count() == 0 and "not verified yet" in page.content()
    assert page.locator("audio").count() == 0  # A's recording is not B's to hear
    assert world["b"]


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_the_sample_page_has_no_axe_violations(browser, live_server, locale):
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run scripts/ensure-axe.sh")
    seed(live_server.app, locale)
    from care.services import Actor
    from care.services import sampling as svc
    from tests.services.helpers_sampling import OCTOBER

    with live_server.app.app_context():
        svc.draw_sample(db.session, OCTOBER, seed=3, user=None, actor=Actor.CLI, now=NOW)
        late = make_user(db.session, "insurance", username="ins_late")
        call(db.session, late, october(30))  # a call after the draw: the top-up offer shows
        db.session.commit()
    context = browser.new_context(
        locale="zh-CN" if locale == "zh_CN" else "en-US",
        extra_http_headers={"Accept-Language": "zh-CN,zh" if locale == "zh_CN" else "en-US,en"},
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        log_in(page, live_server)
        page.goto(live_server("/sampling/?month=2026-10"))
        row = page.locator("tr.sample-call").first
        row.locator("input[value=not_to_standard]").check()
        row.locator("button[type=submit]").click()
        page.wait_for_selector("tr.sample-call .error")  # the page with an error shown, too
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map(v => v.id + ': ' + v.help + ' ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))",
            TAGS,
        )
        assert violations == []
    finally:
        context.close()
