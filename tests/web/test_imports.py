"""The DMS import page: upload (inline and in the background), run page, rejects download."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import func, select

from care.extensions import db
from care.models import AuditLog, Customer, ImportRun, Vehicle
from tests import factories
from tests.conftest import empty_tables, make_app
from tests.factories import PASSWORD, vin_for

DATA = Path(__file__).resolve().parent.parent / "data" / "dms"
V1, V5 = vin_for(1, wmi="LFV"), vin_for(5, wmi="LFV")  # as in tests/data/dms


def upload(client, kind, path_or_bytes, filename=None, strict=False, headers=None):
    if isinstance(path_or_bytes, Path):
        content, filename = path_or_bytes.read_bytes(), filename or path_or_bytes.name
    else:
        content = path_or_bytes
    data = {"kind": kind, "file": (io.BytesIO(content), filename)}
    if strict:
        data["strict"] = "y"
    return client.post("/imports/", data=data, content_type="multipart/form-data", headers=headers)


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_index_shows_form_formats_and_empty_history(client, login_as):
    login_as("care_manager")
    page = client.get("/imports/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html
    assert "客户编号" in html and "交车时间" in html  # the column help
    assert "No file has been imported yet." in html


def test_upload_inline_with_rejects_shown_and_downloadable(app, client, login_as):
    user = login_as("care_manager")
    response = upload(client, "customers", DATA / "customers_utf8_bom.csv")
    assert response.status_code == 303
    run_url = response.headers["Location"]
    assert count(app, Customer) == 2

    page = client.get(run_url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-count="created">2<' in html and 'data-count="rejected">3<' in html
    assert "“12345” is not a valid phone number" in html
    assert "Duplicate customer_no (客户编号) “C101”" in html
    assert "hx-trigger" not in html  # finished: nothing to poll

    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        assert (run.actor, run.user_id, run.filename, run.status) == (user.username, user.id, "customers_utf8_bom.csv", "done")
        run_id = run.id

    download = client.get(f"/imports/{run_id}/rejects.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    body = download.data
    assert body.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    # the row number and its problems (the columns named as the file names them), then the
    # file's own header and the row's own cells
    assert rows[0] == ["Row in the file", "Problems", " Customer_No ", "NAME", " Mobile", "PHONE2", "E-Mail",
                       "Birthday", "Birthday Lunar", "CITY", "Class", "No_Call", "no sms", "NO_EMAIL", "Shoe size"]
    assert rows[1] == ["3", "Mobile: “12345” is not a valid phone number",
                       "C102", "Bob Li", "12345", "", "bob@example.com", "1981-02-01", "", "Chengdu", "existing",
                       "N", "N", "N", "43"]
    assert rows[2][:3] == ["4", "E-Mail: “not-an-email” is not a valid e-mail address; "
                           "Birthday: “2026-02-30” is not a real calendar date; "
                           "Birthday Lunar: “13-01” is not a lunar birthday (MM-DD, month 1–12, day 1–30); "
                           "No_Call: “maybe” is not a yes/no flag (use Y/N, 1/0, 是/否 or true/false)", "C103"]
    assert rows[3][:4] == ["5", rows[3][1], "C101", "Alice Again"] and "Duplicate customer_no" in rows[3][1]
    assert len(rows) == 1 + 3  # one line per rejected row
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "export"))
        assert (entry.object_type, entry.object_id, entry.user_id) == ("import_run", str(run_id), user.id)


def test_page_and_cli_give_the_same_result(app, client, login_as, runner):
    login_as("admin")
    upload(client, "customers", DATA / "customers_gb18030.csv")
    again = runner.invoke(args=["care", "import", "customers", str(DATA / "customers_gb18030.csv"), "--json"])
    assert '"unchanged": 4' in again.stdout
    with app.app_context():
        runs = db.session.scalars(select(ImportRun).order_by(ImportRun.id)).all()
        assert [(r.created, r.unchanged, r.actor == "cli") for r in runs] == [(4, 0, False), (0, 4, True)]


def test_messages_are_translated_at_render_time(app, client, login_as, monkeypatch):
    """Rejects and a stored file error go through gettext with their template and params."""
    import care.web.imports as page

    def fake_gettext(template, **params):
        return "ZH:" + (template % params if params else template)

    monkeypatch.setattr(page, "_", fake_gettext)
    login_as("care_manager")
    with app.app_context():
        run = ImportRun(
            kind="vehicles", filename="v.csv", actor="x", status="failed",
            error="The vehicles file lacks the required column(s): customer_no (客户编号)",
            rejects=[{"row": 2, "column": "mobile", "error": "stored English",
                      "template": "“%(value)s” is not a valid phone number", "params": {"value": "12345"}}],
        )  # fmt: skip
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    html = client.get(f"/imports/{run_id}").get_data(as_text=True)
    assert "ZH:The vehicles file lacks the required column(s): customer_no (客户编号)" in html
    assert "ZH:“12345” is not a valid phone number" in html
    assert "stored English" not in html
    body = client.get(f"/imports/{run_id}/rejects.csv").data.decode("utf-8-sig")
    assert "ZH:“12345” is not a valid phone number" in body


def test_strict_upload_imports_nothing_and_says_so(app, client, login_as):
    login_as("care_manager")
    response = upload(client, "customers", DATA / "customers_utf8_bom.csv", strict=True)
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 row(s) rejected: nothing was imported (strict mode)" in html
    assert count(app, Customer) == 0


def test_empty_deliveries_file_is_accepted(app, client, login_as):
    login_as("admin")
    response = upload(client, "deliveries", DATA / "deliveries_empty.csv")
    assert response.status_code == 303
    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        assert (run.kind, run.status, run.total_rows) == ("deliveries", "done", 0)


def test_xlsx_upload(app, client, login_as):
    login_as("admin")
    upload(client, "customers", DATA / "customers_gb18030.csv")
    response = upload(client, "vehicles", DATA / "vehicles.xlsx")
    assert response.status_code == 303
    with app.app_context():
        run = db.session.scalar(select(ImportRun).order_by(ImportRun.id.desc()))
        # C404 is unknown: rejected; sales1 does not exist here: kept, with a warning
        assert (run.kind, run.created, run.rejected, run.warned) == ("vehicles", 2, 1, 1)


@pytest.mark.parametrize(
    ("kind", "content", "filename", "message"),
    [
        ("customers", b"customer_no,name\n", "notes.txt", "Only .csv and .xlsx files can be imported."),
        ("customers", b"", "empty.csv", "The file is empty"),
        ("customers", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.csv", "binary data"),
        ("customers", b"customer_no,name\n\xff\xfe\xfd\x80", "bad.csv", "neither UTF-8 nor GB18030"),
        ("customers", b"\r\n\r\n", "blank.csv", "The file has no header row"),
        ("customers", b"not a zip", "book.xlsx", "not a readable Excel (.xlsx) workbook"),
        ("vehicles", b"vin,plate\n", "v.csv", "The vehicles file lacks the required column(s): customer_no (客户编号)"),
        ("cars", b"vin\n", "v.csv", "Not a valid choice"),
    ],
)
def test_bad_uploads_get_422_with_a_message_on_the_form(app, client, login_as, kind, content, filename, message):
    login_as("care_manager")
    response = upload(client, kind, content, filename=filename, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'id="import-form"' in html
    assert count(app, Customer) == 0


def test_upload_without_a_file(client, login_as):
    login_as("care_manager")
    response = client.post("/imports/", data={"kind": "customers"}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose a file to import." in response.get_data(as_text=True)


def test_a_refused_file_is_recorded_as_a_failed_run(app, client, login_as):
    login_as("care_manager")
    upload(client, "vehicles", b"vin,plate\n", filename="v.csv")
    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        assert run.status == "failed" and "customer_no" in run.error
        run_id = run.id
    html = client.get(f"/imports/{run_id}").get_data(as_text=True)
    assert "The vehicles file lacks the required column(s): customer_no (客户编号)" in html


def test_non_importers_are_refused(client, login_as):
    login_as("specialist", "front_desk")
    assert client.get("/imports/").status_code == 403
    assert upload(client, "customers", DATA / "customers_gb18030.csv").status_code == 403


def test_unknown_run_is_404(client, login_as):
    login_as("admin")
    assert client.get("/imports/999").status_code == 404
    assert client.get("/imports/999/rejects.csv").status_code == 404


def test_history_lists_runs_newest_first_and_paginates(app, client, login_as):
    login_as("admin")
    app.config["CARE_PAGE_SIZE"] = 2
    for name in ("deliveries_empty.csv", "deliveries_empty.csv", "deliveries_empty.csv"):
        upload(client, "deliveries", DATA / name)
    first = client.get("/imports/").get_data(as_text=True)
    assert first.count('href="/imports/3"') and not first.count('href="/imports/1"')
    assert "Page 1 of 2" in first
    second = client.get("/imports/?page=2").get_data(as_text=True)
    assert 'href="/imports/1"' in second
    assert client.get("/imports/?page=abc").status_code == 400


def test_run_fragment_for_htmx(app, client, login_as):
    login_as("admin")
    response = upload(client, "customers", DATA / "customers_gb18030.csv")
    fragment = client.get(response.headers["Location"], headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert html.lstrip().startswith('<section id="import-run"')
    assert "<html" not in html
    index = client.get("/imports/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert index.lstrip().startswith('<div id="import-runs">')


def test_polling_fragment_while_running_and_not_after(app, client, login_as):
    login_as("admin")
    with app.app_context():
        run = ImportRun(kind="customers", filename="x.csv", actor="admin", status="running", total_rows=200, processed_rows=50)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    html = client.get(f"/imports/{run_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and f'hx-get="/imports/{run_id}"' in html
    assert 'style="width: 25%"' in html
    with app.app_context():
        db.session.get(ImportRun, run_id).status = "done"
        db.session.commit()
    html = client.get(f"/imports/{run_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in html


def test_background_import_shows_progress_until_done(tmp_path, pg_schema, monkeypatch):
    from care.services import imports as import_service

    workers = []  # the worker threads started: the test joins them instead of polling
    start = import_service.start_worker
    monkeypatch.setattr(import_service, "start_worker", lambda *a, **kw: workers.append(start(*a, **kw)))
    app = make_app(tmp_path, pg_schema, CARE_IMPORT_IN_BACKGROUND=True)
    try:
        with app.app_context():
            from tests import factories

            factories.make_user(db.session, "care_manager", username="bg")
            db.session.commit()
        client = app.test_client()
        assert client.post("/auth/login", data={"username": "bg", "password": PASSWORD}).status_code == 303
        lines = ["customer_no,name,mobile"] + [f"B{i:05d},客户{i},+86 137{i:08d}" for i in range(2500)]
        response = upload(client, "customers", ("\n".join(lines) + "\n").encode(), filename="big.csv")
        assert response.status_code == 303
        url = response.headers["Location"]
        assert len(workers) == 1  # started once the queued run was committed
        workers[0].join(timeout=60)
        assert not workers[0].is_alive(), "the background import did not finish"
        html = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "hx-trigger" not in html, "the background import did not finish"
        assert 'data-count="created">2,500<' in html
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Customer)) == 2500
        uploads = Path(app.instance_path) / "uploads"
        assert not any(uploads.iterdir())  # the upload is removed afterwards
        # a bad file is refused on the form even in background mode
        bad = upload(client, "customers", b"name\nx\n", filename="bad.csv")
        assert bad.status_code == 422
        assert "lacks the required column(s): customer_no" in bad.get_data(as_text=True)
    finally:
        if pg_schema:
            empty_tables(app)
        else:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def test_a_run_cut_off_by_a_restart_is_shown_as_interrupted(app, client, login_as):
    """A running import whose worker died stops polling and tells the user what to do."""
    from datetime import timedelta

    from care.models.types import utcnow

    user = login_as("care_manager")
    with app.app_context():
        stale = utcnow() - timedelta(minutes=app.config["CARE_IMPORT_STALE_MINUTES"] + 1)
        run = ImportRun(kind="customers", filename="big.csv", status="running", processed_rows=4000,
                        actor=user.username, user_id=user.id, started_at=stale, updated_at=stale)
        fresh = ImportRun(kind="customers", filename="live.csv", status="running", processed_rows=10,
                          actor=user.username, user_id=user.id)
        db.session.add_all([run, fresh])
        db.session.commit()
        run_id, fresh_id = run.id, fresh.id
    page = client.get(f"/imports/{run_id}").get_data(as_text=True)
    assert "interrupted" in page and "4000" in page
    assert 'hx-trigger="every' not in page
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "failed"
    client.get(f"/imports/{fresh_id}")
    with app.app_context():
        assert db.session.get(ImportRun, fresh_id).status == "running"


def test_runs_cut_off_by_a_crash_are_marked_on_the_list_at_start_and_in_the_sweep(app, client, login_as, runner):
    """kill -9 leaves runs "running" and their uploads behind: the first request after a
    start, the import list and `care sweep` mark them; the leftover uploads are deleted."""
    import os
    from datetime import timedelta

    from care.models.types import utcnow

    user = login_as("care_manager")
    stale = utcnow() - timedelta(minutes=app.config["CARE_IMPORT_STALE_MINUTES"] + 1)

    def cut_off(name):
        with app.app_context():
            run = ImportRun(kind="customers", filename=name, status="running", processed_rows=7,
                            actor=user.username, user_id=user.id, started_at=stale, updated_at=stale)
            db.session.add(run)
            db.session.commit()
            return run.id

    def status(run_id):
        with app.app_context():
            return db.session.get(ImportRun, run_id).status

    # the list
    first = cut_off("list.csv")
    page = client.get("/imports/").get_data(as_text=True)
    assert status(first) == "failed" and "hx-trigger=\"every" not in page
    # the first request after a start, with an upload left behind
    folder = Path(app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    left = folder / "0123456789abcdef.csv"
    left.write_text("customer_no,name\nC1,王小明\n", encoding="utf-8")
    os.utime(left, (stale.timestamp(), stale.timestamp()))
    second = cut_off("start.csv")
    app.extensions.pop("care_imports_checked", None)  # as after a restart
    assert client.get("/").status_code in (200, 302)
    assert status(second) == "failed" and not left.exists()
    # the sweep
    third = cut_off("sweep.csv")
    result = runner.invoke(args=["care", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    assert '"imports_interrupted": 1' in result.output
    assert status(third) == "failed"


def test_a_live_run_keeps_its_upload(app, client, login_as):
    import os
    from datetime import timedelta

    from care.models.types import utcnow
    from care.services import imports as import_service

    user = login_as("care_manager")
    with app.app_context():
        db.session.add(ImportRun(kind="customers", filename="live.csv", status="running",
                                 actor=user.username, user_id=user.id))
        db.session.commit()
        folder = Path(app.instance_path) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        upload_file = folder / "fedcba9876543210.csv"
        upload_file.write_text("customer_no,name\n", encoding="utf-8")
        old = (utcnow() - timedelta(hours=2)).timestamp()
        os.utime(upload_file, (old, old))
        assert import_service.delete_orphan_uploads(db.session, folder, now=utcnow()) == 0
        assert upload_file.exists()
        upload_file.unlink()


def test_stored_rejects_are_purged_after_the_retention_period(app, client, login_as, runner):
    from datetime import timedelta

    from care.models.types import utcnow
    from care.services.settings import load_settings

    login_as("care_manager")
    assert upload(client, "customers", DATA / "customers_utf8_bom.csv").status_code == 303
    with app.app_context():
        run = db.session.scalar(select(ImportRun))
        assert run.rejects and load_settings(db.session).import_rejects_retention_days == 7
        run.finished_at = utcnow() - timedelta(days=8)
        db.session.commit()
        run_id, rejected = run.id, run.rejected
    result = runner.invoke(args=["care", "sweep", "--json"])
    assert '"import_rejects_purged": 1' in result.output
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.rejects == [] and run.rejected == rejected  # the counts stay
    download = client.get(f"/imports/{run_id}/rejects.csv").get_data(as_text=True)
    assert len(download.strip().splitlines()) == 1  # the header only


# --- the result page: one counts table, words that match what happened ------------------------


class _Tables(HTMLParser):
    """The cells of each <table> of a page: (classes, [(tag, text)])."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append((dict(attrs).get("class", ""), []))
        elif tag in ("th", "td") and self.tables:
            self._cell = [tag, ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.tables[-1][1].append((self._cell[0], self._cell[1].strip()))
            self._cell = None


def _counts_table(html):
    parser = _Tables()
    parser.feed(html)
    found = [cells for classes, cells in parser.tables if "import-counts" in classes.split()]
    assert len(found) == 1
    assert not [c for c, _cells in parser.tables if "counts" in c.split()]  # the worklist's flex row
    return found[0]


def _customers_and_vehicles(app, client, login_as):
    login_as("care_manager")
    upload(client, "customers", DATA / "customers_gb18030.csv")
    with app.app_context():
        factories.make_user(db.session, "consultant", username="sales1", display_name="销售一")
        db.session.commit()


def test_the_counts_are_one_table_of_headers_over_numbers(app, client, login_as):
    login_as("care_manager")
    html = client.get(upload(client, "customers", DATA / "customers_utf8_bom.csv").headers["Location"]).get_data(
        as_text=True
    )
    cells = _counts_table(html)
    assert cells == [
        ("th", "Rows"), ("th", "Created"), ("th", "Updated"), ("th", "Unchanged"), ("th", "Rejected"),
        ("th", "With warnings"),
        ("td", "5"), ("td", "2"), ("td", "0"), ("td", "0"), ("td", "3"), ("td", "0"),
    ]  # fmt: skip


def _summary(html):
    start = html.index("data-summary")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start : html.index("</div>", start)]))


@pytest.mark.parametrize(
    ("lines", "says", "flash"),
    [
        (
            [f"{V1},C001,sales1", f"{V5},C003,销售一"],
            ["All 2 row(s) were imported."],
            "The file was imported.",
        ),
        (
            [f"{V1},C001,sales1", f"{V5},C999,"],
            ["1 of 2 row(s) were imported and 1 rejected.", "the rows already imported need not be imported again"],
            "The file was imported except 1 rejected row(s).",
        ),
        (
            [f"{V1},C998,", f"{V5},C999,"],
            ["No row was imported: all 2 row(s) were rejected."],
            "No row was imported: every row was rejected.",
        ),
        (
            [f"{V1},C001,张伟", f"{V5},C003,sales1"],
            ["All 2 row(s) were imported.", "1 imported row(s) name a staff member who is not a user"],
            "The file was imported, with warnings about 1 row(s).",
        ),
    ],
    ids=["all-imported", "some-rejected", "all-rejected", "warnings-only"],
)
def test_the_result_says_what_happened(app, client, login_as, lines, says, flash):
    _customers_and_vehicles(app, client, login_as)
    content = ("\n".join(["vin,customer_no,consultant", *lines]) + "\n").encode()
    response = upload(client, "vehicles", content, filename="v.csv")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    summary = _summary(html)
    for words in says:
        assert words in summary
    assert "Every other row was imported" not in html
    assert flash in html


# --- staff names that are no user: listed, mapped once ---------------------------------------


def _vehicles_with_an_unknown_consultant(app, client, login_as):
    _customers_and_vehicles(app, client, login_as)
    content = f"vin,customer_no,consultant\n{V1},C001,张伟\n{V5},C003,张伟\n".encode()
    response = upload(client, "vehicles", content, filename="v.csv")
    with app.app_context():
        zhang = factories.make_user(db.session, "consultant", username="zhangwei", display_name="销售 张伟")
        factories.make_user(db.session, "consultant", username="retired", display_name="退休", active=False)
        db.session.commit()
        return response.headers["Location"], zhang.id


def test_unknown_staff_names_are_listed_with_a_form_to_map_each_once(app, client, login_as):
    run_url, zhang = _vehicles_with_an_unknown_consultant(app, client, login_as)
    index = client.get("/imports/").get_data(as_text=True)
    assert 'id="staff-names"' in index
    assert '<input type="hidden" name="name" value="张伟">' in index
    assert f'<option value="{zhang}">销售 张伟 (zhangwei)</option>' in index
    assert "退休" not in index  # inactive users are no choice
    page = client.get(run_url).get_data(as_text=True)
    assert "Rows with warnings" in page and "“张伟” is not a user" in page
    assert '<input type="hidden" name="name" value="张伟">' in page

    response = client.post("/imports/staff-names", data={"name": "张伟", "user_id": str(zhang), "run": ""})
    assert response.status_code == 303 and response.headers["Location"] == "/imports/"
    index = client.get("/imports/").get_data(as_text=True)
    assert "“张伟” is mapped to 销售 张伟: 2 imported row(s) and 0 open post-delivery call(s) now have this user." in index
    assert '<input type="hidden" name="name" value="张伟">' not in index
    assert "Names mapped so far (1)" in index
    page = client.get(run_url).get_data(as_text=True)
    assert "mapped</span> 销售 张伟" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Vehicle).where(Vehicle.consultant_id == zhang)) == 2
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "map_staff_name"))
        assert entry.object_type == "staff_name_mapping" and entry.detail["vehicles"] == 2

    again = client.post("/imports/staff-names", data={"name": "张伟", "user_id": str(zhang)})
    assert again.status_code == 409
    assert "“张伟”: “张伟” is already mapped to 销售 张伟." in again.get_data(as_text=True)


def test_mapping_from_a_runs_page_with_htmx_swaps_the_section(app, client, login_as):
    run_url, zhang = _vehicles_with_an_unknown_consultant(app, client, login_as)
    run_id = run_url.rsplit("/", 1)[1]
    htmx = {"HX-Request": "true"}
    refused = client.post("/imports/staff-names", data={"name": "张伟", "user_id": "", "run": run_id}, headers=htmx)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="staff-names"') and "Choose an active user." in html
    done = client.post("/imports/staff-names", data={"name": "张伟", "user_id": str(zhang), "run": run_id}, headers=htmx)
    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="staff-names"')
    assert "mapped</span> 销售 张伟" in html and 'name="user_id"' not in html
    # without htmx, back to the run's page
    with app.app_context():
        factories.make_user(db.session, "insurance", username="ins9")
        db.session.commit()
    plain = client.post("/imports/staff-names", data={"name": "老王", "user_id": str(zhang), "run": run_id})
    assert plain.status_code == 303 and plain.headers["Location"] == run_url
    assert client.post("/imports/staff-names", data={"name": "x", "user_id": str(zhang), "run": "99999"}).status_code == 404


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "user_id": "1"}, "Give the name as the DMS file writes it."),
        ({"name": "张" * 121, "user_id": "1"}, "A staff name has at most 120 characters."),
        ({"name": "张伟", "user_id": "abc"}, "Choose an active user."),
        ({"name": "张伟", "user_id": "99999999999"}, "Choose an active user."),
    ],
)
def test_a_bad_mapping_is_a_422_on_the_page(app, client, login_as, form, message):
    login_as("admin")
    response = client.post("/imports/staff-names", data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'id="import-form"' in html


def test_only_importers_map_names_and_the_form_needs_its_csrf_token(app, client, login_as):
    login_as("specialist")
    assert client.post("/imports/staff-names", data={"name": "张伟", "user_id": "1"}).status_code == 403
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        other = app.test_client()
        with app.app_context():
            factories.make_user(db.session, "care_manager", username="cm")
            db.session.commit()
        login_page = other.get("/auth/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        other.post("/auth/login", data={"username": "cm", "password": PASSWORD, "csrf_token": token})
        refused = other.post("/imports/staff-names", data={"name": "张伟", "user_id": "1"})
        assert refused.status_code == 400
        page = other.get("/imports/").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        ok = other.post("/imports/staff-names", data={"name": "张伟", "user_id": "1", "csrf_token": token})
        assert ok.status_code in (303, 422)  # past the CSRF check
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
