"""`care import survey_responses` and the import page's kind of the same name
(interfaces.md "survey_responses"): paper forms and the manufacturer's export.

The fixed columns (customer_no or vin, template, taken_at, staff, channel) are read by
care/domain/dms.py like any kind; every other column is an item of the row's template,
its header the item's code or its text (Chinese or English, matched like any header).

- A column that is no fixed column and no item of any template the file uses is a
  file-level error naming it (a misspelt item code must not be dropped in silence);
  a few columns our own files carry are ignored: ``index`` (our export), the row and
  problems columns of a rejected-rows file, and the columns of the other DMS kinds
  (姓名, 手机 …) that a form export may carry.
- A blank cell is unanswered; a score that is no whole number, or is outside the
  template's scale, rejects the row (row, column as the file names it, reason); a
  non-blank cell in a column of another template's item rejects the row too.
- ``taken_at`` is a date (the day's midnight at the dealer) or a date and time.
- The key is customer + template + taken_at: a re-import updates the response's
  answers (its template version kept), never doubles it; the same key twice in a file
  rejects the second row.
- A staff name that is no user keeps the row with a warning, like the other kinds
  (care/services/staff_names.py maps it later, also on the responses already stored).
- A new response is completed through care.services.surveys.finish, so it counts in the
  indexes and reaches the complaints hook (R19) like a phone survey.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from care.domain import N_, dms
from care.domain.dms import (
    CellError,
    CellWarning,
    HeaderMap,
    ParsedRow,
    header_key,
    parse_row,
    raw_cell,
)
from care.domain.surveys import IMPORT_NO_CUSTOMER_COLUMN as NO_CUSTOMER_COLUMN
from care.domain.surveys import IMPORT_UNKNOWN_COLUMNS as UNKNOWN_COLUMNS
from care.domain.surveys import SurveyError
from care.models import Customer, ImportRun, SurveyResponse, SurveyTemplateVersion, Vehicle
from care.models.survey import AnswerSource, ResponseStatus, SurveyChannel
from care.services import ServiceError
from care.services import surveys as svc
from care.services.imports import (
    CHUNK,
    REJECTS_KEPT,
    STRICT_MESSAGE,
    UNREADABLE_ROW,
    ImportFileError,
    Table,
    lock_kind,
    reject,
    warning,
)
from care.services.settings import load_settings
from care.services.staff_names import resolve_names

KIND = "survey_responses"
# Headers a file may carry that are no item: our export's index, a rejected-rows file's
# first two columns (care/services/imports.py export_rejects, in English and Chinese).
EXTRA_HEADERS = {header_key(h) for h in ("index", "指数", "Row in the file", "文件中的行号", "Problems", "问题")}
CHANNELS = {
    "paper": "paper", "纸质": "paper", "纸质问卷": "paper", "问卷": "paper",
    "oem": "oem", "厂家": "oem", "主机厂": "oem", "厂家调查": "oem",
    "phone": "phone", "电话": "phone",
    "ivr": "ivr", "语音": "ivr", "自动语音": "ivr",
}  # fmt: skip



def _other_kinds_headers() -> set[str]:
    keys = set()
    for name, spec in dms.KINDS.items():
        if name == KIND:
            continue
        for column in spec.columns:
            keys.update(header_key(n) for n in column.names())
    return keys


def parse_taken_at(raw, tz) -> datetime | None:
    """A date (its midnight at the dealer) or a date and time → UTC."""
    if raw is None or dms.cell_text(raw) == "":
        return None
    if isinstance(raw, datetime):
        return dms.parse_datetime(raw, tz)
    try:
        return dms.parse_datetime(raw, tz)
    except CellError:
        day = dms.parse_date(raw)  # its own message when this is no date either
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def parse_score(raw) -> int | None:
    """A whole-number score (7, "7", 7.0); None for a blank cell; CellError otherwise."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise CellError(N_("“%(value)s” is not a whole-number score"), value=str(raw))
    if isinstance(raw, (int, float, Decimal)):
        value = float(raw)
    else:
        text = dms.cell_text(raw)
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            raise CellError(N_("“%(value)s” is not a whole-number score"), value=text[:40]) from None
    if not math.isfinite(value) or value != int(value) or abs(value) > 1000:
        raise CellError(N_("“%(value)s” is not a whole-number score"), value=str(raw)[:40])
    return int(value)


class SurveyImport:
    """One survey_responses file: validation, then the responses written chunk by chunk."""

    def __init__(self, session: Session, header: HeaderMap, table: Table, run: ImportRun, *, now: datetime,
                 strict: bool, progress: Callable[[ImportRun], None] | None):  # fmt: skip
        self.session, self.header, self.table, self.run_ = session, header, table, run
        self.now, self.strict, self.progress = now, strict, progress
        self.tz = ZoneInfo(load_settings(session).timezone)
        self.user_id = run.user_id

    # -- the item columns ------------------------------------------------------------------

    def _versions(self, codes: set[str]) -> dict[str, SurveyTemplateVersion]:
        out = {}
        for code in sorted(codes):
            try:
                out[code] = svc.current_version(self.session, code)
            except ServiceError:
                continue
        return out

    def _item_columns(self, versions: dict[str, SurveyTemplateVersion]) -> dict[int, tuple[str, dict[str, str]]]:
        """Column position → (its header as the file writes it, template code → item
        code); ImportFileError for a column that is nothing."""
        fixed = set(self.header.index.values())
        extra = EXTRA_HEADERS | _other_kinds_headers()
        names = {code: {} for code in versions}
        for code, version in versions.items():
            for item in version.items:
                for text in (item.code, item.text_zh, item.text_en):
                    names[code][header_key(text)] = item.code
        columns: dict[int, tuple[str, dict[str, str]]] = {}
        unknown = []
        for i, head in enumerate(self.table.headers):
            key = header_key(head)
            if i in fixed or not key:
                continue
            matches = {code: by_name[key] for code, by_name in names.items() if key in by_name}
            if matches:
                columns[i] = (str(head).strip(), matches)
            elif key not in extra:
                unknown.append(f"“{str(head).strip()[:60]}”")
        if unknown:
            raise ImportFileError(
                UNKNOWN_COLUMNS, columns=", ".join(unknown[:10]), templates=", ".join(sorted(versions)) or "—"
            )
        return columns

    # -- validation ----------------------------------------------------------------------------

    def run(self) -> None:
        run = self.run_
        if not (self.header.has("customer_no") or self.header.has("vin")):
            raise ImportFileError(NO_CUSTOMER_COLUMN)
        parsed = [parse_row(self.header, n, cells, tz=self.tz) for n, cells in self.table.rows]
        if self.table.unreadable:
            parsed += [ParsedRow(n, {}, [("", CellError(UNREADABLE_ROW, max=csv.field_size_limit()))]) for n in self.table.unreadable]
            parsed.sort(key=lambda p: p.row)
        cells = dict(self.table.rows)
        versions = self._versions({str(p.values["template"]).strip().lower() for p in parsed if p.values.get("template")})
        columns = self._item_columns(versions)
        self._references(parsed)
        for p in parsed:
            self._row(p, cells.get(p.row, []), versions, columns)
        self._duplicates(parsed)

        rejects = [reject(p.row, col, err) for p in parsed for col, err in p.errors]
        run.all_rejects, run.rejects = rejects, rejects[:REJECTS_KEPT]
        run.rejected = sum(1 for p in parsed if p.errors)
        warnings = [warning(p.row, col, note) for p in parsed if p.ok for col, note in p.warnings]
        run.all_warnings, run.warnings = warnings, warnings[:REJECTS_KEPT]
        run.warned = sum(1 for p in parsed if p.ok and p.warnings)
        run.headers = [raw_cell(h) for h in self.table.headers]
        run.reject_rows = [
            {"row": p.row, "cells": [raw_cell(c) for c in cells.get(p.row, [])]} for p in parsed if p.errors
        ][:REJECTS_KEPT]
        if self.strict and run.rejected:
            run.processed_rows = len(parsed)
            run.status = "failed"
            run.error = STRICT_MESSAGE % {"count": run.rejected}
            return
        for start in range(0, len(parsed), CHUNK):
            chunk = parsed[start : start + CHUNK]
            self._write([p for p in chunk if p.ok], versions)
            run.processed_rows += len(chunk)
            self.session.flush()
            if self.progress:
                self.progress(run)
        run.status = "done"
        self.session.flush()

    def _references(self, parsed: list[ParsedRow]) -> None:
        """customer_no / vin → the customer (and vehicle); staff → (user id or None, name)."""
        nos = {p.values["customer_no"] for p in parsed if p.values.get("customer_no")}
        vins = {p.values["vin"] for p in parsed if p.values.get("vin")}
        customers = dict(self.session.execute(select(Customer.customer_no, Customer.id).where(Customer.customer_no.in_(nos))).all()) if nos else {}
        vehicles = {
            vin: (vid, cid)
            for vin, vid, cid in self.session.execute(select(Vehicle.vin, Vehicle.id, Vehicle.customer_id).where(Vehicle.vin.in_(vins)))
        } if vins else {}  # fmt: skip
        staff = resolve_names(self.session, {p.values["staff"] for p in parsed if p.values.get("staff")})
        for p in parsed:
            no, vin = p.values.get("customer_no"), p.values.get("vin")
            customer_id = vehicle_id = None
            if no is not None:
                customer_id = customers.get(no)
                if customer_id is None:
                    p.errors.append(("customer_no", CellError(N_("No customer with customer_no “%(value)s” exists (import the customers first)"), value=no)))
            if vin is not None:
                found = vehicles.get(vin)
                if found is None:
                    p.errors.append(("vin", CellError(N_("No vehicle with VIN “%(value)s” exists (import the vehicles first)"), value=vin)))
                else:
                    vehicle_id = found[0]
                    if customer_id is not None and found[1] != customer_id:
                        p.errors.append(("vin", CellError(N_("The vehicle “%(value)s” belongs to another customer than %(customer)s"), value=vin, customer=no)))
                    customer_id = customer_id or found[1]
            if no is None and vin is None and not any(c == "" for c, _e in p.errors):
                p.errors.append(("customer_no", CellError(N_("Give the customer_no or the vin of the customer surveyed"))))
            p.values["customer_id"], p.values["vehicle_id"] = customer_id, vehicle_id
            name = p.values.get("staff")
            if name is not None:
                user_id = staff.get(name)
                p.values["staff"] = (user_id, name)
                if user_id is None:
                    p.warnings.append(("staff", CellWarning(dms.UNKNOWN_STAFF, value=name)))

    def _row(self, p: ParsedRow, cells: list, versions, columns) -> None:
        """The template, taken_at, channel and the scores of one row."""
        if not p.values and p.errors:
            return  # an unreadable row
        code = str(p.values.get("template") or "").strip().lower()
        version = versions.get(code)
        if code and version is None:
            p.errors.append(("template", CellError(N_("There is no survey template “%(value)s” (see `care survey-templates`)"), value=code)))
        p.values["template"] = code
        raw = cells[self.header.index["taken_at"]] if self.header.index["taken_at"] < len(cells) else None
        try:
            p.values["taken_at"] = parse_taken_at(raw, self.tz)
        except CellError as exc:
            p.errors.append(("taken_at", exc))
        channel = p.values.get("channel")
        if channel is None:
            p.values["channel"] = SurveyChannel.PAPER.value
        else:
            value = CHANNELS.get(str(channel).strip().lower())
            if value is None:
                p.errors.append(("channel", CellError(N_("“%(value)s” is not a channel: paper, oem, phone or ivr (纸质, 厂家, 电话, 语音)"), value=channel)))
            p.values["channel"] = value
        scores: dict[str, int | None] = {}
        for i, (head, matches) in columns.items():
            raw = cells[i] if i < len(cells) else None
            try:
                score = parse_score(raw)
            except CellError as exc:
                p.errors.append((head, exc))
                continue
            if version is None:
                continue
            item_code = matches.get(code)
            if item_code is None:
                if score is not None:
                    p.errors.append((head, CellError(N_("“%(column)s” is no item of the template %(code)s"), column=head, code=code)))
                continue
            try:
                svc.scale_of(version).check(score, item=item_code)
            except SurveyError as exc:
                p.errors.append((head, CellError(exc.template, **exc.params)))
                continue
            if item_code in scores and scores[item_code] is not None and score is not None:
                p.errors.append((head, CellError(N_("The item %(item)s has two columns in this file"), item=item_code)))
                continue
            if item_code not in scores or score is not None:
                scores[item_code] = score
        p.values["scores"] = scores

    def _duplicates(self, parsed: list[ParsedRow]) -> None:
        first: dict[tuple, int] = {}
        for p in parsed:
            if not p.ok:
                continue
            key = (p.values["customer_id"], p.values["template"], p.values["taken_at"])
            if key in first:
                p.errors.append(("taken_at", CellError(N_("The same customer, template and date are already in row %(first)s"), first=first[key])))
            else:
                first[key] = p.row

    # -- writing -------------------------------------------------------------------------------

    def _write(self, rows: list[ParsedRow], versions: dict[str, SurveyTemplateVersion]) -> None:
        if not rows:
            return
        lock_kind(self.session, KIND)
        template_ids = {code: v.template_id for code, v in versions.items()}
        keys = {(p.values["customer_id"], template_ids[p.values["template"]], p.values["taken_at"]) for p in rows}
        customer_ids = {k[0] for k in keys}
        existing = {
            (r.customer_id, r.template_id, r.taken_at): r
            for r in self.session.scalars(
                select(SurveyResponse)
                .where(SurveyResponse.customer_id.in_(customer_ids), SurveyResponse.template_id.in_(set(template_ids.values())))
                .options(selectinload(SurveyResponse.answers), selectinload(SurveyResponse.version).selectinload(SurveyTemplateVersion.items))
            )
        }  # fmt: skip
        for p in rows:
            version = versions[p.values["template"]]
            key = (p.values["customer_id"], version.template_id, p.values["taken_at"])
            response = existing.get(key)
            if response is None:
                self._create(p, version)
                self.run_.created += 1
            elif self._update(p, response):
                self.run_.updated += 1
            else:
                self.run_.unchanged += 1

    def _staff(self, p: ParsedRow) -> tuple[int | None, str | None]:
        return p.values.get("staff") or (None, None)

    def _create(self, p: ParsedRow, version: SurveyTemplateVersion) -> None:
        staff_id, staff_name = self._staff(p)
        response = SurveyResponse(
            template_id=version.template_id, version=version, customer_id=p.values["customer_id"],
            vehicle_id=p.values["vehicle_id"], staff_id=staff_id, staff_name=staff_name,
            channel=p.values["channel"], taken_at=p.values["taken_at"], status=ResponseStatus.IN_PROGRESS.value,
            taken_by_id=self.user_id, import_run_id=self.run_.id, created_at=self.now, updated_at=self.now,
        )  # fmt: skip
        self.session.add(response)
        for item in version.items:
            if item.code in p.values["scores"]:
                score = p.values["scores"][item.code]
                svc.put_answer(self.session, response, item, score, unanswered=score is None, source=AnswerSource.IMPORT.value, now=self.now)
        self.session.flush()
        svc.finish(self.session, response, user=None, now=self.now)

    def _update(self, p: ParsedRow, response: SurveyResponse) -> bool:
        """The file's answers over the stored ones (the response keeps its version; an item
        that version lacks is left out). Whether anything changed."""
        changed = False
        staff_id, staff_name = self._staff(p)
        for field, value in (("vehicle_id", p.values["vehicle_id"]), ("channel", p.values["channel"]),
                             ("staff_id", staff_id), ("staff_name", staff_name)):  # fmt: skip
            if value is not None and getattr(response, field) != value:
                setattr(response, field, value)
                changed = True
        answers = {a.item_id: a for a in response.answers}
        for item in response.version.items:
            if item.code not in p.values["scores"]:
                continue
            score = p.values["scores"][item.code]
            old = answers.get(item.id)
            if old is not None and old.score == score and old.unanswered == (score is None):
                continue
            svc.put_answer(self.session, response, item, score, unanswered=score is None, source=AnswerSource.IMPORT.value, now=self.now)
            changed = True
        if changed:
            response.updated_at = self.now
            if response.status == ResponseStatus.COMPLETED.value:
                self.session.flush()
                response.index = svc.compute_index(response)
            else:
                svc.finish(self.session, response, user=None, now=self.now)
        return changed
