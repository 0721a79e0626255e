"""DMS import (interfaces.md "Import files"): read a CSV/XLSX export, check every row,
upsert the valid ones in bulk and record the run.

`run_import` is the one use case behind both `care import` and the import page, so the
same file gives the same result from either. It parses and validates the whole file
first (so that `strict` can refuse everything), then writes chunk by chunk with bulk
statements: existing keys looked up with `… WHERE key IN (…)` per chunk, new rows with
one bulk INSERT, changed rows with one bulk UPDATE by primary key. It flushes and never
commits; `progress(run)` is called after each chunk so that a caller may commit there
(the background worker, `start_worker`, does).

A staff name that is no user does not reject its row: the row is imported with the name
as given and the run reports a warning (care/services/staff_names.py maps such names).
The run keeps the file's header row and the cells of each rejected row, so that the
rejected rows can be downloaded as a file to correct and import again as it is
(:func:`export_rejects`); those cells are customer data and are purged with the rejects
(:func:`purge_rejects`, the ``import_rejects_retention_days`` setting).
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import logging
import math
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, insert, select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, selectinload

from care.domain import N_
from care.domain.dms import (
    CUSTOMER_REF,
    EMAIL,
    PHONE,
    UNKNOWN_STAFF,
    USER_REF,
    VIN,
    CellError,
    CellWarning,
    Column,
    DmsError,
    HeaderMap,
    KindSpec,
    ParsedRow,
    cell_text,
    chinese_counts,
    header_key,
    is_blank,
    kind_spec,
    match_headers,
    parse_date,
    parse_datetime,
    parse_row,
    raw_cell,
    rejects_table,
)
from care.domain.dms import KINDS as DMS_KINDS
from care.domain.surveys import IMPORT_NO_CUSTOMER_COLUMN, IMPORT_UNKNOWN_COLUMNS, SurveyError
from care.emails import EmailError, normalize_email
from care.models import (
    Customer,
    Delivery,
    FrontDeskAppointment,
    ImportRun,
    InsurancePolicy,
    OwnershipChange,
    ServiceVisit,
    SurveyResponse,
    SurveyTemplateVersion,
    Vehicle,
)
from care.models import search as search_index
from care.models.survey import AnswerSource, ResponseStatus, SurveyChannel
from care.models.types import utcnow
from care.phones import PhoneError, normalize_phone
from care.services import Actor, ServiceError, audit
from care.services import surveys as svc
from care.services.settings import load_settings
from care.services.staff_names import resolve_names

log = logging.getLogger("care.imports")

KINDS = ("customers", "vehicles", "visits", "policies", "deliveries", "appointments", "survey_responses")
EXTENSIONS = (".csv", ".xlsx")
CHUNK = 1000  # rows per batch read, lookup and bulk statement
REJECTS_KEPT = 10_000  # problems (and rejected rows, and warnings) stored with a run; all are counted
LOCK_KEY = 0x494D5054  # "IMPT": with the kind's index, the PostgreSQL advisory lock of a chunk


class ImportStopped(RuntimeError):
    """The database refused a statement of the import. Its message names only the error's
    type: the database's text and the statement's parameters hold names and numbers."""


class ImportFileError(ServiceError):
    """The whole file is refused (unreadable, no header, a required column missing …).

    `run` is the failed ImportRun when one was recorded.
    """

    run: ImportRun | None = None


# File-level messages (a page shows a stored `ImportRun.error` translated from these).
UNKNOWN_KIND = N_("Unknown kind “%(kind)s”; kinds: %(kinds)s")
BAD_TYPE = N_("Unsupported file type “%(ext)s”: use .csv or .xlsx")
NOT_FOUND = N_("The file was not found")
UNREADABLE = N_("The file cannot be read")
EMPTY = N_("The file is empty")
NO_HEADER = N_("The file has no header row")
IS_XLSX = N_("This is an Excel workbook: give it the .xlsx extension")
IS_XLS = N_("This is an old Excel .xls workbook: save it as .xlsx or as CSV")
UNDECODABLE = N_("The file is neither UTF-8 nor GB18030 text: save it as CSV (UTF-8) or as an Excel workbook")
BINARY = N_("The file contains binary data: it is not a CSV text file")
BAD_CSV = N_("The file is not a readable CSV table (line %(line)s)")
BAD_XLSX = N_("The file is not a readable Excel (.xlsx) workbook")
TOO_MANY_ROWS = N_("The file has more than %(max)s data rows: split it into smaller files")
TOO_LARGE = N_("The file holds more than %(max)s MB of data: split it into smaller files")
# a row reject (the file's other rows are read)
UNREADABLE_ROW = N_("The row cannot be read: a cell has more than %(max)s characters or broken quotes")
STRICT_MESSAGE = N_("%(count)s row(s) rejected: nothing was imported (strict mode)")
CRASH_MESSAGE = N_("The import stopped on an unexpected error after %(processed)s rows; the rows before it are saved")
INTERRUPTED_MESSAGE = N_("The import was interrupted (the server stopped) after %(processed)s rows; the rows before it are saved. Upload the file again to finish it: rows already imported count as unchanged")
FILE_MESSAGES = (
    UNKNOWN_KIND, BAD_TYPE, NOT_FOUND, UNREADABLE, EMPTY, NO_HEADER, IS_XLSX, IS_XLS, UNDECODABLE,
    BINARY, BAD_CSV, BAD_XLSX, TOO_MANY_ROWS, TOO_LARGE, STRICT_MESSAGE, CRASH_MESSAGE, INTERRUPTED_MESSAGE,
    # from care/domain/dms.py
    N_("The column %(column)s appears more than once (%(headers)s)"),
    N_("The %(kind)s file lacks the required column(s): %(columns)s"),
    # from care/domain/surveys.py (the survey_responses kind)
    IMPORT_UNKNOWN_COLUMNS, IMPORT_NO_CUSTOMER_COLUMN,
)  # fmt: skip

# --- reading files -----------------------------------------------------------------------


@dataclass
class Table:
    headers: list
    rows: list[tuple[int, list]]  # (row number as a spreadsheet shows it, cells)
    unreadable: list[int] = field(default_factory=list)  # rows the CSV reader could not read

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.unreadable)


@dataclass(frozen=True)
class _BadRecord:
    """A CSV record the reader refused (a cell over csv.field_size_limit …) at `line`."""

    line: int


@dataclass(frozen=True)
class Limits:
    """How much one file may hold (the import_max_rows / import_max_megabytes settings):
    a workbook that unpacks to gigabytes (a decompression bomb) is refused before it is
    read, and reading stops at the first data row over the cap, so memory stays bounded
    whatever the file's size."""

    rows: int = 300_000
    megabytes: int = 200

    @property
    def bytes(self) -> int:
        return self.megabytes * 1_000_000


def limits_of(session: Session) -> Limits:
    settings = load_settings(session)
    return Limits(int(settings.import_max_rows), int(settings.import_max_megabytes))


def read_table(path: Path, limits: Limits = Limits()) -> Table:  # noqa: B008 - frozen
    """The header row and the non-blank data rows of a .csv or .xlsx file (ImportFileError
    beyond `limits`), all in memory (the survey_responses kind; the others stream the file:
    :class:`FileRows`)."""
    ext = _check_file(path, limits)
    try:
        with closing(_records(path, ext)) as records:
            headers, data = _split(records)
            rows: list[tuple[int, list]] = []
            unreadable: list[int] = []
            for i, cells in data:
                if cells is None:
                    unreadable.append(i)
                else:
                    rows.append((i, cells))
                if len(rows) + len(unreadable) > limits.rows:
                    raise ImportFileError(TOO_MANY_ROWS, max=limits.rows)
            return Table(headers, rows, unreadable)
    except OSError:
        raise ImportFileError(UNREADABLE) from None


class FileRows:
    """A .csv or .xlsx file read as a stream, so that memory stays flat whatever its size:
    opening it checks it and counts its rows (the header, the row cap and the total the
    progress shows are known before anything is written); iterating reads it again and
    yields ``(row number, cells)``, cells None for a record the CSV reader refused."""

    def __init__(self, path: Path, limits: Limits = Limits()):  # noqa: B008 - frozen
        self.path = path
        self.ext = _check_file(path, limits)
        total = 0
        try:
            with closing(_records(path, self.ext)) as records:
                self.headers, data = _split(records)
                for _row in data:
                    total += 1
                    if total > limits.rows:
                        raise ImportFileError(TOO_MANY_ROWS, max=limits.rows)
        except OSError:
            raise ImportFileError(UNREADABLE) from None
        self.total = total

    def __iter__(self) -> Iterator[tuple[int, list | None]]:
        try:
            with closing(_records(self.path, self.ext)) as records:
                _headers, data = _split(records)
                yield from data
        except OSError:
            raise ImportFileError(UNREADABLE) from None


def _check_file(path: Path, limits: Limits) -> str:
    """The file's extension, once its type, presence and size are fine."""
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise ImportFileError(BAD_TYPE, ext=ext or path.name)
    if not path.is_file():
        raise ImportFileError(NOT_FOUND)
    try:
        if path.stat().st_size == 0:
            raise ImportFileError(EMPTY)
        _check_size(path, ext, limits)
    except OSError:
        raise ImportFileError(UNREADABLE) from None
    return ext


def _records(path: Path, ext: str) -> Iterator[list | _BadRecord]:
    return _read_csv(path) if ext == ".csv" else _read_xlsx(path)


def _split(records: Iterator[list | _BadRecord]) -> tuple[list, Iterator[tuple[int, list | None]]]:
    """The header row (the first non-blank record) and the non-blank data rows after it,
    streamed: ``(row as a spreadsheet shows it, cells)``, cells None for a record the CSV
    reader refused. Blank rows are skipped, never kept."""
    numbered = enumerate(records, start=1)
    for _i, cells in numbered:
        if isinstance(cells, _BadRecord):
            raise ImportFileError(BAD_CSV, line=cells.line)
        if not is_blank(cells):
            headers = list(cells)
            break
    else:
        raise ImportFileError(NO_HEADER)

    def data() -> Iterator[tuple[int, list | None]]:
        for i, cells in numbered:
            if isinstance(cells, _BadRecord):
                yield i, None
            elif not is_blank(cells):
                yield i, list(cells)

    return headers, data()


def _check_size(path: Path, ext: str, limits: Limits) -> None:
    """A CSV file, or the unpacked parts of a workbook, over `limits.megabytes`."""
    if ext == ".csv":
        size = path.stat().st_size
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                size = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, ValueError):
            raise ImportFileError(BAD_XLSX) from None
    if size > limits.bytes:
        raise ImportFileError(TOO_LARGE, max=limits.megabytes)


def csv_encoding(path: Path) -> str:
    """The encoding to read a CSV file with, judged on the whole file read block by block:
    UTF-8 (with or without BOM) strictly, else GB18030 as Chinese Excel writes it, when
    the result reads like Chinese (GB18030 decodes almost any bytes: a Shift-JIS, Big5 or
    Windows-1252 file would otherwise import as garbage hanzi); UTF-16 after its BOM
    (Excel's "Unicode text"). ImportFileError for a workbook, binary data or other text."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head[:4] == b"PK\x03\x04":
        raise ImportFileError(IS_XLSX)
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportFileError(IS_XLS)
    for encoding in ("utf-16",) if head[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "gb18030"):
        try:
            has_nul, counts = _decode_blocks(path, encoding, count_chinese=encoding == "gb18030")
        except UnicodeDecodeError:
            continue
        if has_nul:
            raise ImportFileError(BINARY)
        if encoding == "gb18030" and (counts is None or counts[1] > counts[0]):  # Shift-JIS, Big5 … as GB18030
            raise ImportFileError(UNDECODABLE)
        return encoding
    raise ImportFileError(UNDECODABLE)


def _decode_blocks(path: Path, encoding: str, *, count_chinese: bool) -> tuple[bool, tuple[int, int] | None]:
    """Decode a file strictly (UnicodeDecodeError) in blocks: whether it holds a NUL, and
    its (usual, unusual) non-ASCII characters when asked (None: one is never Chinese)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    has_nul = False
    counts: tuple[int, int] | None = (0, 0)
    with path.open("rb") as fh:
        while True:
            block = fh.read(1 << 20)
            text = decoder.decode(block, final=not block)
            has_nul = has_nul or "\x00" in text
            if count_chinese and counts is not None:
                more = chinese_counts(text)
                counts = None if more is None else (counts[0] + more[0], counts[1] + more[1])
            if not block:
                return has_nul, counts


def _read_csv(path: Path) -> Iterator[list | _BadRecord]:
    """The records of a CSV file, streamed; one the reader refuses (a cell longer than
    csv.field_size_limit, 128 KiB) is a _BadRecord, and reading goes on with the next
    line (the reader starts afresh after an error), so that only that row is lost."""
    encoding = csv_encoding(path)
    with path.open(encoding=encoding, newline="\n") as fh:
        delimiter = _delimiter(fh)
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        while True:
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield _BadRecord(reader.line_num)


def _delimiter(lines: Iterable[str]) -> str:
    """Comma, or tab / semicolon when the first line plainly uses that instead."""
    first = next((line for line in lines if line.strip()), "")
    best = max((",", "\t", ";"), key=first.count)
    return best if first.count(best) else ","


def _read_xlsx(path: Path) -> Iterator[list]:
    """The rows of the active sheet, streamed (openpyxl's read-only mode)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - zip, XML and openpyxl errors: all "not a workbook"
        raise ImportFileError(BAD_XLSX) from None
    try:
        sheet = workbook.active if workbook.active is not None else workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # some exporters write a wrong <dimension>
        rows = sheet.iter_rows(values_only=True)
        while True:
            try:
                cells = next(rows)
            except StopIteration:
                return
            except Exception:  # noqa: BLE001
                raise ImportFileError(BAD_XLSX) from None
            yield list(cells)
    finally:
        workbook.close()


# --- the import --------------------------------------------------------------------------

MODELS = {
    "customers": Customer,
    "vehicles": Vehicle,
    "visits": ServiceVisit,
    "policies": InsurancePolicy,
    "deliveries": Delivery,
    "appointments": FrontDeskAppointment,
}
KEY_FIELD = {
    "customers": "customer_no",
    "vehicles": "vin",
    "visits": "ro_no",
    "policies": "policy_no",
    "deliveries": "vehicle_id",
    "appointments": "appt_no",
}
# Values of a new row for the fields a file may leave out (the rest are None).
INSERT_DEFAULTS = {
    "customers": {"customer_class": "existing", "no_call": False, "no_sms": False, "no_email": False},
    "appointments": {"source": "import"},
}
FLAGS = ("no_call", "no_sms", "no_email")


def reject(row: int, column: str, problem: DmsError | ServiceError) -> dict:
    """A rejected row as the CLI prints it, plus the message id for a translated page."""
    return {
        "row": row,
        "column": column,
        "error": str(problem),
        "template": problem.template,
        "params": problem.params,
    }


def public_reject(entry: dict) -> dict:
    """`{"row", "column", "error"}` (interfaces.md)."""
    return {"row": entry["row"], "column": entry["column"], "error": entry["error"]}


def warning(row: int, column: str, note: DmsError) -> dict:
    """A row kept with a warning, as the CLI prints it, plus the message id for a page."""
    return {"row": row, "column": column, "warning": str(note), "template": note.template, "params": note.params}


def public_warning(entry: dict) -> dict:
    """`{"row", "column", "warning"}` (interfaces.md)."""
    return {"row": entry["row"], "column": entry["column"], "warning": entry["warning"]}


def warned_names(run: ImportRun) -> list[str]:
    """The staff names a run's warnings report as no user, in order of first appearance."""
    names: dict[str, None] = {}
    for entry in run.warnings or []:
        if entry.get("template") == UNKNOWN_STAFF:
            value = (entry.get("params") or {}).get("value")
            if value:
                names.setdefault(value, None)
    return list(names)


def run_import(
    session: Session,
    kind: str,
    path: str | Path,
    *,
    filename: str,
    strict: bool = False,
    actor: Actor,
    now: datetime,
    progress: Callable[[ImportRun], None] | None = None,
    run: ImportRun | None = None,
    batch_size: int = CHUNK,
) -> ImportRun:
    """Import one DMS file; returns its ImportRun (status `done`, or `failed` in strict mode
    when rows were rejected). A file refused as a whole raises ImportFileError after
    recording the failed run. All rejects are on `run.all_rejects`, all warnings on
    `run.all_warnings`; the run stores the first REJECTS_KEPT of each. The rows are read,
    checked and written `batch_size` at a time (survey_responses: the file is read whole).
    """
    clock = time.monotonic()
    if run is None:
        run = ImportRun(
            kind=kind[:16], filename=filename[:255], strict=strict, actor=actor.name[:64],
            user_id=actor.user_id, started_at=now,
        )  # fmt: skip
        session.add(run)
    run.status = "running"
    run.total_rows = run.processed_rows = 0
    run.created = run.updated = run.unchanged = run.rejected = run.warned = 0
    run.rejects = []
    run.warnings = []
    run.reject_rows = []
    run.all_rejects = []
    run.all_warnings = []
    session.flush()
    try:
        spec = _spec(kind)
        source = read_table(Path(path), limits_of(session)) if kind == SURVEY_KIND else FileRows(Path(path), limits_of(session))
        try:
            header = match_headers(kind, source.headers)
        except DmsError as exc:
            raise ImportFileError(exc.template, **exc.params) from None
        run.total_rows = source.total
        session.flush()
        if progress:
            progress(run)
        if kind == SURVEY_KIND:  # its item columns vary with the template: a reader of its own (below)
            SurveyImport(session, header, source, run, now=now, strict=strict, progress=progress).run()
        else:
            with _older_objects_frozen():
                _Import(session, spec, header, source, run, now=now, strict=strict, progress=progress, batch_size=batch_size).run()
            # the customer search's index (SQLite): the imported rows in one pass, now
            # rather than in the first search after the import
            search_index.sync(session.connection())
        if kind == "visits" and run.status == "done" and (run.created or run.updated):
            # R17: the visits mark the appointments whose vehicle came in as arrived.
            from care.services.register import mark_arrivals

            mark_arrivals(session, now=now, actor=f"import:{filename}")
    except StatementError as exc:
        raise ImportStopped(f"the import stopped on a database error ({type(exc.orig or exc).__name__})") from None
    except ImportFileError as exc:
        run.status = "failed"
        run.error = str(exc)
        _finish(session, run, now, clock)
        exc.run = run
        raise
    _finish(session, run, now, clock)
    return run


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Leave the objects alive before the import (the app's, SQLAlchemy's: ~170,000) out
    of the garbage collector's passes while it runs (gc.freeze). Each batch's rows live
    long enough to reach the oldest generation, which set off a full pass over all of
    them every few batches (~10 passes, 1.5 s, in a 100,000-row import). Process-wide
    but harmless: cycles among those objects wait for the unfreeze at the end."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def record_refusal(
    session: Session,
    kind: str,
    exc: ImportFileError,
    *,
    filename: str,
    strict: bool = False,
    actor: Actor,
    now: datetime,
) -> ImportRun:
    """Record a file refused before its run began (the page's early check) as a failed run."""
    run = ImportRun(
        kind=kind[:16], filename=filename[:255], strict=strict, actor=actor.name[:64], user_id=actor.user_id,
        started_at=now, finished_at=now, status="failed", error=str(exc), rejects=[], warnings=[],
        total_rows=0, processed_rows=0, created=0, updated=0, unchanged=0, rejected=0, warned=0,
    )  # fmt: skip
    session.add(run)
    session.flush()
    _audit(session, run, now)
    session.flush()
    exc.run = run
    return run


def fail_run(session: Session, run: ImportRun, *, now: datetime) -> None:
    """Mark a run that stopped on an unexpected error (the background worker uses it)."""
    run.status = "failed"
    run.error = CRASH_MESSAGE % {"processed": run.processed_rows}
    run.finished_at = now
    _audit(session, run, now)
    session.flush()


def mark_interrupted(session: Session, run: ImportRun, *, now: datetime, stale_after: timedelta) -> bool:
    """A queued or running import that has written nothing for `stale_after` was cut off
    (its worker died with the server): mark it failed so that its page stops waiting."""
    if run.status not in ("queued", "running") or run.updated_at > now - stale_after:
        return False
    run.status = "failed"
    run.error = INTERRUPTED_MESSAGE % {"processed": run.processed_rows}
    run.finished_at = now
    _audit(session, run, now)
    session.flush()
    return True


STALE_AFTER = timedelta(minutes=10)  # the default of the CARE_IMPORT_STALE_MINUTES config


def interrupt_stale_runs(session: Session, *, now: datetime, stale_after: timedelta = STALE_AFTER) -> int:
    """Mark every queued or running import silent for `stale_after` as interrupted
    (:func:`mark_interrupted`): at the first request after a start, on the import list and
    in `care sweep`, so that no run cut off by a crash stays "running". How many."""
    runs = session.scalars(
        select(ImportRun)
        .where(ImportRun.status.in_(("queued", "running")), ImportRun.updated_at <= now - stale_after)
        .order_by(ImportRun.id)
    ).all()
    return sum(mark_interrupted(session, run, now=now, stale_after=stale_after) for run in runs)


def purge_rejects(session: Session, *, now: datetime) -> int:
    """Empty the stored rejects and the rejected rows' cells (personal data: names,
    numbers, addresses), and the warnings, of the runs finished more than the
    `import_rejects_retention_days` setting ago; the counts stay. The rejects download
    reads only these. How many runs were purged."""
    days = int(load_settings(session).import_rejects_retention_days)
    runs = session.scalars(
        select(ImportRun)
        .where(
            ImportRun.finished_at < now - timedelta(days=days),
            (ImportRun.rejected > 0) | (ImportRun.warned > 0),
        )
        .order_by(ImportRun.id)
    ).all()
    purged = 0
    for run in runs:
        if run.rejects or run.reject_rows or run.warnings:
            run.rejects = []
            run.reject_rows = []
            run.warnings = []
            purged += 1
    session.flush()
    return purged


def sweep_imports(session: Session, *, now: datetime, stale_after: timedelta = STALE_AFTER) -> dict[str, int]:
    """`care sweep`'s part for imports: runs cut off marked, expired rejects purged."""
    return {
        "imports_interrupted": interrupt_stale_runs(session, now=now, stale_after=stale_after),
        "import_rejects_purged": purge_rejects(session, now=now),
    }


def delete_orphan_uploads(session: Session, folder: Path, *, now: datetime, stale_after: timedelta = STALE_AFTER) -> int:
    """Delete the uploads a crash left behind (a finished run deletes its own file; the
    rejects download never reads it): when no import is queued or running any more, every
    file in `folder` older than `stale_after`. How many files were deleted."""
    live = session.scalar(select(ImportRun.id).where(ImportRun.status.in_(("queued", "running"))).limit(1))
    if live is not None or not folder.is_dir():
        return 0
    cutoff = (now - stale_after).timestamp()
    deleted = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except OSError:  # gone already, or not ours to delete: leave it
            continue
    return deleted


def runs_statement() -> Select:
    """The import runs, newest first, with who started them (the import page's list)."""
    return (
        select(ImportRun)
        .options(selectinload(ImportRun.user))
        .order_by(ImportRun.started_at.desc(), ImportRun.id.desc())
    )


def queue_run(
    session: Session,
    kind: str,
    path: str | Path,
    *,
    filename: str,
    strict: bool = False,
    actor: Actor,
    now: datetime,
) -> ImportRun:
    """A file for the background worker: its header checked (ImportFileError on a bad
    file, nothing recorded) and a queued run recorded and flushed (its id for the page)."""
    check_file(kind, path, limits_of(session))
    run = ImportRun(
        kind=kind[:16], filename=filename[:255], strict=strict, actor=actor.name[:64], user_id=actor.user_id,
        status="queued", started_at=now,
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run


def start_worker(
    sessions: Callable[[], Session],
    run_id: int,
    kind: str,
    path: Path,
    *,
    filename: str,
    strict: bool = False,
    actor: Actor,
    clock: Callable[[], datetime] = utcnow,
) -> threading.Thread:
    """Import a queued run (:func:`queue_run`, committed) in a thread of its own.

    The thread has its own session (``sessions()``) and commits after each chunk, so the
    run page can show its progress: a deliberate exception to "one commit per request"
    (the import is not the request's work, and a crash keeps the chunks before it). The
    upload at ``path`` is deleted at the end. Returns the started thread (tests join it).
    """
    options = {"filename": filename, "strict": strict, "actor": actor}
    thread = threading.Thread(
        target=_work, args=(sessions, run_id, kind, path, options, clock), name=f"import-{run_id}", daemon=True
    )
    thread.start()
    return thread


def _work(sessions, run_id: int, kind: str, path: Path, options: dict, clock) -> None:
    session = sessions()
    try:
        run = session.get(ImportRun, run_id)
        # the progress commits: see start_worker
        run_import(session, kind, path, now=clock(), run=run, progress=lambda _run: session.commit(), **options)
        session.commit()
    except ImportFileError:
        session.commit()  # the failed run and its audit entry (run_import recorded them)
    except Exception as exc:  # noqa: BLE001 - record the failure; the message may hold row data
        session.rollback()
        log.error("import run %s stopped: %s", run_id, type(exc).__name__)
        run = session.get(ImportRun, run_id)
        if run is not None:
            fail_run(session, run, now=clock())
            session.commit()
    finally:
        path.unlink(missing_ok=True)
        session.close()


def export_rejects(
    session: Session,
    run: ImportRun,
    *,
    row_header: str,
    problems_header: str,
    message: Callable[[dict], str],
    actor: Actor,
    now: datetime,
) -> str:
    """A run's rejected rows as CSV, to correct and import again as it is: the row number
    and the problems (``message(entry)``: a problem's text in the reader's language, after
    its column) in the first two columns (which the import ignores), then the file's own
    header and each rejected row's own cells. Starts with a byte-order mark for Excel;
    audited (ids and counts only)."""
    named = _file_headers(run)
    problems: dict[int, list[str]] = {}
    for entry in run.rejects or []:
        text = message(entry)
        column = named.get(entry["column"], entry["column"])
        problems.setdefault(entry["row"], []).append(f"{column}: {text}" if column else text)
    if run.reject_rows is not None and run.headers is not None:
        rows = [(r["row"], list(r["cells"])) for r in run.reject_rows]
        headers = list(run.headers)
    else:  # a run stored before the rows' cells were kept: the problems only
        rows = [(row, []) for row in problems]
        headers = None
    kept = {row for row, _cells in rows}
    rows += [(row, [""] * len(headers or [])) for row in problems if row not in kept]  # cells over the cap
    rows.sort(key=lambda r: r[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(rejects_table(headers, rows, problems, row_header=row_header, problems_header=problems_header))
    audit.record(
        session,
        actor=actor,
        action="export",
        object_type="import_run",
        object_id=run.id,
        detail={"what": "rejects", "rows": len(rows)},
        now=now,
    )
    session.flush()
    return "\ufeff" + buffer.getvalue()


def _file_headers(run: ImportRun) -> dict[str, str]:
    """Column key → the header the file gives it (`mobile` → `手机`), so that the problems
    in the rejected-rows file name the columns as the user's file does."""
    if not run.headers:
        return {}
    try:
        header = match_headers(run.kind, run.headers)
    except DmsError:
        return {}
    return {key: str(run.headers[i]).strip() for key, i in header.index.items()}


def _spec(kind: str) -> KindSpec:
    try:
        return kind_spec(kind)
    except DmsError as exc:
        raise ImportFileError(exc.template, **exc.params) from None


def _finish(session: Session, run: ImportRun, now: datetime, clock: float) -> None:
    run.finished_at = now + timedelta(seconds=time.monotonic() - clock)
    _audit(session, run, now)
    session.flush()
    log.info(
        "import run %s (%s): %s, %s created, %s updated, %s unchanged, %s rejected, %s with warnings",
        run.id, run.kind, run.status, run.created, run.updated, run.unchanged, run.rejected, run.warned,
    )  # fmt: skip


def _audit(session: Session, run: ImportRun, now: datetime) -> None:
    audit.record(
        session,
        actor=Actor(run.actor, run.user_id),
        action="import",
        object_type="import_run",
        object_id=run.id,
        detail={
            "kind": run.kind,
            "status": run.status,
            "total": run.total_rows,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "rejected": run.rejected,
            "warned": run.warned or 0,
        },
        now=now,
    )


def _chunks(items: list, size: int | None = None) -> Iterable[list]:
    size = size or CHUNK
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _filled(table, rows: list[dict]) -> list[dict]:
    """INSERT rows without the columns that none of them fills and that have no default
    (NULL all the same): every parameter costs SQLAlchemy time, row by row."""
    empty = {
        key for key in rows[0]
        if table.c[key].default is None and table.c[key].server_default is None and all(r[key] is None for r in rows)
    }  # fmt: skip
    if not empty:
        return rows
    return [{key: value for key, value in row.items() if key not in empty} for row in rows]


def _update_by_id(session: Session, table, rows: list[dict]) -> None:
    """Each row's values by its ``id``: one Core executemany per set of columns, the rows
    with the same set put together (the ORM's bulk UPDATE spends as long on its own
    bookkeeping as the database on the rows)."""
    rows.sort(key=lambda row: tuple(row))
    for columns, group in groupby(rows, key=lambda row: tuple(row)):
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({column: bindparam(f"b_{column}") for column in columns if column != "id"})
        )
        session.execute(statement, [{f"b_{key}": value for key, value in row.items()} for row in group])


def _keep_problems(run: ImportRun, parsed: list[ParsedRow], table: Table) -> tuple[list[dict], list[dict]]:
    """Record a parsed file's rejects and warnings on its run (the first REJECTS_KEPT of
    each stored, all on ``all_rejects``/``all_warnings``), its header row and the cells
    of its rejected rows; returns (rejects, warnings)."""
    rejects = [reject(p.row, col, err) for p in parsed for col, err in p.errors]
    run.all_rejects, run.rejects = rejects, rejects[:REJECTS_KEPT]
    run.rejected = sum(1 for p in parsed if p.errors)
    warnings = [warning(p.row, col, note) for p in parsed if p.ok for col, note in p.warnings]
    run.all_warnings, run.warnings = warnings, warnings[:REJECTS_KEPT]
    run.warned = sum(1 for p in parsed if p.ok and p.warnings)
    run.headers = [raw_cell(h) for h in table.headers]
    cells = dict(table.rows)
    run.reject_rows = [
        {"row": p.row, "cells": [raw_cell(c) for c in cells.get(p.row, [])]} for p in parsed if p.errors
    ][:REJECTS_KEPT]
    return rejects, warnings


class _Import:
    """One file's validation and upsert (state shared by the steps), batch by batch: only
    a batch's rows are in memory, besides each key's first row (duplicates across
    batches) and the problems."""

    def __init__(self, session, spec: KindSpec, header: HeaderMap, rows: FileRows, run: ImportRun, *, now, strict,
                 progress, batch_size: int = CHUNK):  # fmt: skip
        self.session = session
        self.spec = spec
        self.kind = spec.name
        self.header = header
        self.rows = rows
        self.run_ = run
        self.now = now
        self.strict = strict
        self.progress = progress
        self.batch_size = batch_size
        self.model = MODELS[self.kind]
        self.key_field = KEY_FIELD[self.kind]
        self.present = [c for c in spec.columns if header.has(c.key)]
        self.staff = [c for c in self.present if c.type == USER_REF]
        self.source = f"import:{run.filename}"
        self.tz = ZoneInfo(load_settings(session).timezone)

    def run(self) -> None:
        """In strict mode a first pass over the file only checks it: the second, which
        writes, runs only when no row is rejected."""
        run = self.run_
        run.headers = [raw_cell(h) for h in self.rows.headers]
        if self.strict:
            for _batch in self._checked_batches():
                pass
            if run.rejected:
                run.processed_rows = run.total_rows
                run.status = "failed"
                run.error = STRICT_MESSAGE % {"count": run.rejected}
                run.all_rejects, run.all_warnings = self.rejects, self.warnings
                return
        for batch in self._checked_batches():
            self._write([p for p in batch if p.ok])
            run.processed_rows += len(batch)
            self.session.flush()
            if self.progress:
                self.progress(run)
        run.status = "done"
        self.session.flush()
        self.session.expire_all()  # bulk UPDATEs bypass objects already in the session
        # keep the transient lists of every reject and warning on the (now expired) run object
        run.all_rejects = self.rejects
        run.all_warnings = self.warnings

    # -- validation --

    def _checked_batches(self) -> Iterator[list[ParsedRow]]:
        """The file's rows parsed and checked, a batch at a time, their problems kept."""
        self.first_row: dict[object, int] = {}  # key → the row it first appears in
        self.rejects: list[dict] = []
        self.warnings: list[dict] = []
        self.reject_rows: list[dict] = []
        self.run_.rejected = self.run_.warned = 0
        unreadable = CellError(UNREADABLE_ROW, max=csv.field_size_limit())
        for rows in _batched(self.rows, self.batch_size):
            parsed = [
                ParsedRow(n, {}, [("", unreadable)]) if cells is None else parse_row(self.header, n, cells, tz=self.tz)
                for n, cells in rows
            ]
            self._finish_cells(parsed)
            self._duplicates(parsed)
            self._references(parsed)
            self._keep(parsed, dict(rows))
            yield parsed

    def _keep(self, parsed: list[ParsedRow], cells: dict[int, list | None]) -> None:
        """A batch's rejects and warnings onto the run: all on ``all_rejects`` /
        ``all_warnings`` at the end, the first REJECTS_KEPT of each stored (set as they
        come, so that a run that stops keeps those of the rows before), with the cells of
        the rejected rows."""
        run = self.run_
        rejected = [p for p in parsed if p.errors]
        warned = [p for p in parsed if p.ok and p.warnings]
        run.rejected += len(rejected)
        run.warned += len(warned)
        if rejected:
            stored = len(self.rejects) < REJECTS_KEPT
            self.rejects += [reject(p.row, col, err) for p in rejected for col, err in p.errors]
            if len(self.reject_rows) < REJECTS_KEPT:
                self.reject_rows += [{"row": p.row, "cells": [raw_cell(c) for c in cells[p.row] or []]} for p in rejected]
                run.reject_rows = self.reject_rows[:REJECTS_KEPT]
            if stored:
                run.rejects = self.rejects[:REJECTS_KEPT]
        if warned:
            stored = len(self.warnings) < REJECTS_KEPT
            self.warnings += [warning(p.row, col, note) for p in warned for col, note in p.warnings]
            if stored:
                run.warnings = self.warnings[:REJECTS_KEPT]

    def _finish_cells(self, parsed: list[ParsedRow]) -> None:
        """Phone numbers to E.164 and e-mail addresses checked (needs libraries)."""
        phones = [c.key for c in self.present if c.type == PHONE]
        emails = [c.key for c in self.present if c.type == EMAIL]
        for p in parsed:
            for key in phones:
                text = p.values.get(key)
                if text is None:
                    continue
                try:
                    p.values[key] = normalize_phone(text)
                except PhoneError:
                    del p.values[key]
                    p.errors.append((key, CellError(N_("“%(value)s” is not a valid phone number"), value=text)))
            for key in emails:
                text = p.values.get(key)
                if text is None:
                    continue
                try:
                    address = normalize_email(text)
                except EmailError:
                    address = None
                if address is None or len(address) > 254:
                    del p.values[key]
                    p.errors.append((key, CellError(N_("“%(value)s” is not a valid e-mail address"), value=text)))
                else:
                    p.values[key] = address
        for p in parsed:
            p.errors.sort(key=lambda e: self._order(e[0]))

    def _order(self, key: str) -> int:
        return next((i for i, c in enumerate(self.spec.columns) if c.key == key), -1)

    def _duplicates(self, parsed: list[ParsedRow]) -> None:
        key = self.spec.key
        label = self.spec.column(key).label
        first = self.first_row
        for p in parsed:
            value = p.values.get(key)
            if value is None:
                continue
            if value in first:
                p.errors.insert(
                    0,
                    (key, CellError(
                        N_("Duplicate %(column)s “%(value)s”: the same key is already in row %(first)s"),
                        column=label, value=value, first=first[value],
                    )),
                )  # fmt: skip
            else:
                first[value] = p.row

    def _ref_kind(self, column: Column) -> str | None:
        if column.type == CUSTOMER_REF:
            return "customer"
        if column.type == USER_REF:
            return "user"
        if column.type == VIN and column.field == "vehicle_id":
            return "vehicle"
        return None

    def _references(self, parsed: list[ParsedRow]) -> None:
        """Customers and vehicles named in the file must exist: never guessed (a reject).
        A staff member who is no user (nor a mapped name) keeps the row, with the name as
        given and a warning. A staff cell becomes ``(user id or None, name)``."""
        refs = [(c, self._ref_kind(c)) for c in self.present]
        refs = [(c, r) for c, r in refs if r]
        wanted: dict[str, set] = {"customer": set(), "vehicle": set(), "user": set()}
        for p in parsed:
            for column, ref in refs:
                value = p.values.get(column.key)
                if value is not None:
                    wanted[ref].add(value)
        found = {
            "customer": self._lookup(Customer.customer_no, Customer.id, wanted["customer"]),
            "vehicle": self._lookup(Vehicle.vin, Vehicle.id, wanted["vehicle"]),
            "user": {},
        }
        found["user"] = resolve_names(self.session, wanted["user"])  # mappings first, then users
        messages = {
            "customer": N_("No customer with customer_no “%(value)s” exists (import the customers first)"),
            "vehicle": N_("No vehicle with VIN “%(value)s” exists (import the vehicles first)"),
        }
        for p in parsed:
            for column, ref in refs:
                value = p.values.get(column.key)
                if value is None:
                    continue
                target = found[ref].get(value)
                if ref == "user":
                    p.values[column.key] = (target, value)
                    if target is None:
                        p.warnings.append((column.key, CellWarning(UNKNOWN_STAFF, value=value)))
                elif target is None:
                    p.errors.append((column.key, CellError(messages[ref], value=value)))
                else:
                    p.values[column.key] = target
            p.errors.sort(key=lambda e: self._order(e[0]))

    def _lookup(self, key_col, id_col, values: set) -> dict:
        out: dict = {}
        for chunk in _chunks(sorted(values)):
            rows = self.session.execute(select(key_col, id_col).where(key_col.in_(chunk)))
            out.update((key, id_) for key, id_ in rows)
        return out

    # -- writing --

    def _record(self, p: ParsedRow) -> dict:
        """Model field → value for the cells with a value (an empty cell keeps what is
        stored). A staff cell sets the user (None for a name that is no user) and the name."""
        record = {}
        for c in self.present:
            value = p.values.get(c.key)
            if value is None:
                continue
            if c.type == USER_REF:
                record[c.field], record[c.name_field] = value
            else:
                record[c.field] = value
        return record

    def _write(self, rows: list[ParsedRow]) -> None:
        if not rows:
            return
        lock_kind(self.session, self.kind)
        if self.session.get_bind().dialect.name == "postgresql":
            # The lookup below runs once per batch with the same text: psycopg prepares it
            # and PostgreSQL may then keep a generic plan, which compares each row with
            # each of the 1000 parameters (0.3 s a batch at 100,000 customers when the
            # table's statistics are stale, as in a first import). Plans made with the
            # keys themselves use the index, or hash the keys.
            self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        model, key_field = self.model, self.key_field
        key_col = getattr(model, key_field)
        fields = [c.field for c in self.present if c.field != key_field]
        fields += [c.name_field for c in self.staff]
        compare_cols = list(dict.fromkeys([*fields, *(["import_run_id"] if self.kind == "deliveries" else [])]))
        records = [(p, self._record(p)) for p in rows]
        keys = [rec[key_field] for _, rec in records]
        names = ["id", key_field, *compare_cols]
        existing = {
            row[1]: dict(zip(names, row, strict=True))
            for row in self.session.execute(
                select(model.id, key_col, *(getattr(model, f) for f in compare_cols)).where(key_col.in_(keys))
            )
        }
        inserts: list[dict] = []
        updates: list[dict] = []
        ownership: list[dict] = []
        for p, rec in records:
            old = existing.get(rec[key_field])
            if old is None:
                inserts.append(self._new(rec))
                continue
            # only what changed is written: an empty cell keeps the stored value, and so
            # does a cell equal to it
            changed = {f: v for f, v in rec.items() if f != key_field and old[f] != v}
            if not changed:
                self.run_.unchanged += 1
                continue
            values = dict(changed)
            if self.kind == "customers":
                for flag in FLAGS:
                    if flag in changed:  # who changed a consent flag, and when
                        values[f"{flag}_by"] = self.source[:120]
                        values[f"{flag}_at"] = self.now
            elif self.kind == "vehicles" and "customer_id" in changed:
                ownership.append(
                    {
                        "vehicle_id": old["id"],
                        "old_customer_id": old["customer_id"],
                        "new_customer_id": rec["customer_id"],
                        "changed_at": self.now,
                        "source": f"{self.source} row {p.row}"[:200],
                    }
                )
            elif self.kind == "deliveries" and not old["import_run_id"]:
                values["import_run_id"] = self.run_.id
            updates.append({"id": old["id"], **values, "updated_at": self.now})
        if inserts:
            # the table's Core INSERT (the rows are complete: no ORM defaults to apply), one
            # executemany for the batch
            self.session.execute(insert(model.__table__), _filled(model.__table__, inserts))
        if updates:
            _update_by_id(self.session, model.__table__, updates)
        if ownership:
            self.session.execute(insert(OwnershipChange), ownership)
        self.run_.created += len(inserts)
        self.run_.updated += len(updates)

    def _new(self, rec: dict) -> dict:
        values = {c.field: None for c in self.spec.columns}
        values.update({c.name_field: None for c in self.spec.columns if c.name_field})
        values.update(INSERT_DEFAULTS.get(self.kind, {}))
        values.update(rec)
        if self.kind == "customers":
            for flag in FLAGS:
                on = bool(values[flag])
                values[f"{flag}_by"] = self.source[:120] if on else None
                values[f"{flag}_at"] = self.now if on else None
        if self.kind == "deliveries":
            values["import_run_id"] = self.run_.id
        values["created_at"] = self.now
        values["updated_at"] = self.now
        return values


# --- survey_responses (issue 11) -------------------------------------------------------------
# Its item columns vary with the template, so the kind has a reader of its own:
#
# `care import survey_responses` and the import page's kind of the same name
# (interfaces.md "survey_responses"): paper forms and the manufacturer's export.
#
# The fixed columns (customer_no or vin, template, taken_at, staff, channel) are read by
# care/domain/dms.py like any kind; every other column is an item of the row's template,
# its header the item's code or its text (Chinese or English, matched like any header).
#
# - A column that is no fixed column and no item of any template the file uses is a
#   file-level error naming it (a misspelt item code must not be dropped in silence);
#   a few columns our own files carry are ignored: ``index`` (our export), the row and
#   problems columns of a rejected-rows file, and the columns of the other DMS kinds
#   (姓名, 手机 …) that a form export may carry.
# - A blank cell is unanswered; a score that is no whole number, or is outside the
#   template's scale, rejects the row (row, column as the file names it, reason); a
#   non-blank cell in a column of another template's item rejects the row too.
# - ``taken_at`` is a date (the day's midnight at the dealer) or a date and time.
# - The key is customer + template + taken_at: a re-import updates the response's
#   answers (its template version kept), never doubles it; the same key twice in a file
#   rejects the second row.
# - A staff name that is no user keeps the row with a warning, like the other kinds
#   (care/services/staff_names.py maps it later, also on the responses already stored).
# - A new response is completed through care.services.surveys.finish, so it counts in the
#   indexes and reaches the complaints hook (R19) like a phone survey.


SURVEY_KIND = "survey_responses"
# Headers a file may carry that are no item: our export's index, a rejected-rows file's
# first two columns (care/services/imports.py export_rejects, in English and Chinese).
SURVEY_EXTRA_HEADERS = {header_key(h) for h in ("index", "指数", "Row in the file", "文件中的行号", "Problems", "问题")}
SURVEY_CHANNELS = {
    "paper": "paper", "纸质": "paper", "纸质问卷": "paper", "问卷": "paper",
    "oem": "oem", "厂家": "oem", "主机厂": "oem", "厂家调查": "oem",
    "phone": "phone", "电话": "phone",
    "ivr": "ivr", "语音": "ivr", "自动语音": "ivr",
}  # fmt: skip



def _other_kinds_headers() -> set[str]:
    keys = set()
    for name, spec in DMS_KINDS.items():
        if name == SURVEY_KIND:
            continue
        for column in spec.columns:
            keys.update(header_key(n) for n in column.names())
    return keys


def parse_survey_taken_at(raw, tz) -> datetime | None:
    """A date (its midnight at the dealer) or a date and time → UTC."""
    if raw is None or cell_text(raw) == "":
        return None
    if isinstance(raw, datetime):
        return parse_datetime(raw, tz)
    try:
        return parse_datetime(raw, tz)
    except CellError:
        day = parse_date(raw)  # its own message when this is no date either
        return datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)


def parse_survey_score(raw) -> int | None:
    """A whole-number score (7, "7", 7.0); None for a blank cell; CellError otherwise."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise CellError(N_("“%(value)s” is not a whole-number score"), value=str(raw))
    if isinstance(raw, (int, float, Decimal)):
        value = float(raw)
    else:
        text = cell_text(raw)
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
        extra = SURVEY_EXTRA_HEADERS | _other_kinds_headers()
        names = {code: {} for code in versions}
        for code, version in versions.items():
            for item in version.items:
                for label in (item.code, item.text_zh, item.text_en):
                    names[code][header_key(label)] = item.code
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
                IMPORT_UNKNOWN_COLUMNS, columns=", ".join(unknown[:10]), templates=", ".join(sorted(versions)) or "—"
            )
        return columns

    # -- validation ----------------------------------------------------------------------------

    def run(self) -> None:
        run = self.run_
        if not (self.header.has("customer_no") or self.header.has("vin")):
            raise ImportFileError(IMPORT_NO_CUSTOMER_COLUMN)
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

        _keep_problems(run, parsed, self.table)
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
                    p.warnings.append(("staff", CellWarning(UNKNOWN_STAFF, value=name)))

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
            p.values["taken_at"] = parse_survey_taken_at(raw, self.tz)
        except CellError as exc:
            p.errors.append(("taken_at", exc))
        channel = p.values.get("channel")
        if channel is None:
            p.values["channel"] = SurveyChannel.PAPER.value
        else:
            value = SURVEY_CHANNELS.get(str(channel).strip().lower())
            if value is None:
                p.errors.append(("channel", CellError(N_("“%(value)s” is not a channel: paper, oem, phone or ivr (纸质, 厂家, 电话, 语音)"), value=channel)))
            p.values["channel"] = value
        scores: dict[str, int | None] = {}
        for i, (head, matches) in columns.items():
            raw = cells[i] if i < len(cells) else None
            try:
                score = parse_survey_score(raw)
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
        lock_kind(self.session, SURVEY_KIND)
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
        for attr, value in (("vehicle_id", p.values["vehicle_id"]), ("channel", p.values["channel"]),
                            ("staff_id", staff_id), ("staff_name", staff_name)):  # fmt: skip
            if value is not None and getattr(response, attr) != value:
                setattr(response, attr, value)
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


def lock_kind(session: Session, kind: str) -> None:
    """Serialize the writing of one kind until the transaction ends, so that two imports
    of the same file at once do not both insert a new key (IntegrityError): the lookup of
    existing keys and the writes of a chunk happen under it. A PostgreSQL advisory lock
    (LOCK_KEY, the kind); on SQLite a write that changes nothing takes the database's
    write lock before the lookup (like care.services.generator.lock_generation)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:key, :kind)"), {"key": LOCK_KEY, "kind": KINDS.index(kind)}
        )
    elif dialect == "sqlite":
        session.execute(text("UPDATE import_runs SET id = id WHERE 1 = 0"))


def check_file(kind: str, path: str | Path, limits: Limits = Limits()) -> None:  # noqa: B008 - frozen
    """Refuse a file early (before a background run): kind, type, encoding and header.

    Reads only the start of an .xlsx workbook; a CSV is decoded whole (that is what finds
    an encoding problem) but only its header row is parsed.
    """
    _spec(kind)
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise ImportFileError(BAD_TYPE, ext=ext or path.name)
    try:
        if not path.is_file():
            raise ImportFileError(NOT_FOUND)
        if path.stat().st_size == 0:
            raise ImportFileError(EMPTY)
        _check_size(path, ext, limits)
        headers = _csv_header(path) if ext == ".csv" else _xlsx_header(path)
    except OSError:
        raise ImportFileError(UNREADABLE) from None
    if headers is None:
        raise ImportFileError(NO_HEADER)
    try:
        match_headers(kind, headers)
    except DmsError as exc:
        raise ImportFileError(exc.template, **exc.params) from None


def _csv_header(path: Path) -> list | None:
    with closing(_read_csv(path)) as records:
        headers, _data = _split(records)
    return headers


def _xlsx_header(path: Path) -> list | None:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001
        raise ImportFileError(BAD_XLSX) from None
    try:
        sheet = workbook.active if workbook.active is not None else workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()
        for cells in sheet.iter_rows(values_only=True):
            if not is_blank(cells):
                return list(cells)
        return None
    except Exception:  # noqa: BLE001
        raise ImportFileError(BAD_XLSX) from None
    finally:
        workbook.close()
