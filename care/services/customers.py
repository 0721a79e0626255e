"""Customers: search, the customer page, CSV export — each audited (domain.md §9).

One search box finds a customer by name, customer number, phone (any spelling, or the
last digits), plate or VIN. The query is tried against all of them at once; the audit
log records only the *kind* of query (`describe_query`), never its text, because the
text is a name or a phone number.
"""

from __future__ import annotations

import csv
import io
import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, Select, column, or_, select, table, union
from sqlalchemy.orm import Session, joinedload, selectinload

from care.domain.dates import local_today
from care.domain.roles import mask_phone
from care.models import Customer, Delivery, InsurancePolicy, OwnershipChange, ServiceVisit, Vehicle
from care.models import search as search_index
from care.phones import display_phone, search_digits
from care.services import Actor, audit
from care.services.settings import load_settings

MAX_QUERY = 100  # characters; longer input is refused by the form
MIN_PHONE_TAIL = 4  # digits: "8000" finds …8000
MIN_VIN_TAIL = 6  # characters: the last 6 of a VIN
EXPORT_CAP = 50_000  # rows in one CSV export

_PHONE_CHARS = re.compile(r"^[\d\s+\-().·/]+$")
_VIN_PART = re.compile(r"^[A-HJ-NPR-Z0-9]+$")
_PLATE = re.compile(r"^[\u4e00-\u9fff][A-Z][A-Z0-9]{4,6}[\u4e00-\u9fff]?$")
_CJK = re.compile(r"[\u3400-\u9fff]")
_PLATE_NOISE = re.compile(r"[\s\-·.•]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- the query -------------------------------------------------------------------------


def clean_query(text: str | None) -> str:
    """Trimmed, inner runs of white space made one space, control characters dropped."""
    return " ".join(_CONTROL.sub("", text or "").split())


def normalize_plate(text: str) -> str:
    """`川a 12345`, `川A·12345` → `川A12345` (plates are stored so)."""
    return _PLATE_NOISE.sub("", text).upper()


def _phone_terms(q: str) -> tuple[str | None, str | None]:
    """(whole number in E.164, trailing digits) to look for, when `q` looks like a phone.

    `138 0013 8000`, `+86 138-0013-8000`, `0086…` give the whole number; `8000` (at least
    MIN_PHONE_TAIL digits) gives the last digits. Digits typed without a leading 0 or +
    are also tried as the end of a number, in case a partial number happens to be valid.
    """
    if not _PHONE_CHARS.match(q):
        return None, None
    digits = re.sub(r"\D", "", q)
    if len(digits) < MIN_PHONE_TAIL:
        return None, None
    found = search_digits(q)
    full = found if found and found.startswith("+") else None
    tail = None if q.startswith(("+", "0")) and full else digits
    return full, tail


def describe_query(q: str) -> str:
    """The kind of a query, for the audit log and the export: never the text itself."""
    q = clean_query(q)
    if not q:
        return "all"
    if any(_phone_terms(q)):
        return "phone"
    compact = normalize_plate(q)
    if len(compact) == 17 and _VIN_PART.match(compact):
        return "vin"
    if _PLATE.match(compact):
        return "plate"
    if _CJK.search(q):
        return "name"
    if len(compact) >= MIN_VIN_TAIL and _VIN_PART.match(compact):
        return "code"  # a customer number or the end of a VIN
    return "text"


def _like(text: str) -> str:
    """A LIKE pattern that matches `text` literally (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class _Lookup:
    """One way `q` can match: an exact condition on customers or on vehicles, and the text
    it looks for in the SQLite trigram index (ending in END for a tail; None when a B-tree
    index serves the condition)."""

    model: type[Customer] | type[Vehicle]
    condition: ColumnElement[bool]
    term: str | None = None
    columns: tuple[str, ...] = ()


def _lookups(q: str) -> list[_Lookup]:
    """Every way `q` can match a customer; a customer matching any of them is found."""
    pattern = f"%{_like(q)}%"
    found = [
        _Lookup(Customer, Customer.name.ilike(pattern, escape="\\"), q, ("name",)),
        _Lookup(Customer, Customer.customer_no.ilike(pattern, escape="\\"), q, ("customer_no",)),
    ]
    full, tail = _phone_terms(q)
    if full:  # a whole number: exact, uses the B-tree indexes
        found.append(_Lookup(Customer, or_(Customer.mobile == full, Customer.phone2 == full)))
    if tail:  # the last digits
        pattern_tail = f"%{_like(tail)}"
        condition = or_(Customer.mobile.like(pattern_tail, escape="\\"), Customer.phone2.like(pattern_tail, escape="\\"))
        found.append(_Lookup(Customer, condition, tail + search_index.END, ("mobile", "phone2")))
    compact = normalize_plate(q)
    if len(compact) >= 2:
        found.append(_Lookup(Vehicle, Vehicle.plate.like(f"%{_like(compact)}%", escape="\\"), compact, ("plate",)))
    if len(compact) >= MIN_VIN_TAIL and _VIN_PART.match(compact):
        if len(compact) == 17:
            found.append(_Lookup(Vehicle, Vehicle.vin == compact))
        else:
            vin_tail = Vehicle.vin.like(f"%{_like(compact)}", escape="\\")
            found.append(_Lookup(Vehicle, vin_tail, compact + search_index.END, ("vin",)))
    return found


def _fts_phrase(columns: tuple[str, ...], term: str) -> str:
    """An FTS5 query for `term` as a substring of any of `columns` (trigram tokenizer)."""
    return "{" + " ".join(columns) + '} : "' + term.replace('"', '""') + '"'


def _matching_ids(lookup: _Lookup, dialect: str) -> Select:
    """The ids of the customers `lookup` finds.

    PostgreSQL's pg_trgm indexes serve the LIKE conditions themselves; SQLite's FTS5
    tables are asked first for the candidate rows (a phrase of at least three characters),
    which the exact condition then checks (care/models/search.py).
    """
    model = lookup.model
    stmt = select(Customer.id if model is Customer else Vehicle.customer_id).where(lookup.condition)
    if dialect == "sqlite" and lookup.term is not None and len(lookup.term) >= search_index.MIN_TERM:
        fts_name = search_index.fts_table(model.__tablename__, lookup.columns[0])
        fts = table(fts_name, column("rowid"), column(fts_name))
        candidates = select(fts.c.rowid).where(fts.c[fts_name].op("MATCH")(_fts_phrase(lookup.columns, lookup.term)))
        stmt = stmt.where(model.id.in_(candidates))
    return stmt


def search(session: Session, q: str | None) -> Select:
    """`search_statement` for this session's database, through its trigram index, which
    is first brought up to date with the rows written since the last search (SQLite)."""
    if clean_query(q):
        search_index.sync(session.connection())
    return search_statement(q, dialect=session.get_bind().dialect.name)


def search_statement(q: str | None, *, dialect: str = "") -> Select:
    """Customers matching `q` (all customers when empty), vehicles loaded in one query.

    Empty query: the most recently updated first. A search: by customer number, so that
    paging is stable. `dialect` ("sqlite", "postgresql") lets the search use that
    database's trigram index (`search` brings it up to date first); without it every row
    is read (same result, slower).
    """
    q = clean_query(q)
    stmt = select(Customer).options(selectinload(Customer.vehicles))
    if not q:
        return stmt.order_by(Customer.updated_at.desc(), Customer.id.desc())
    ids = union(*(_matching_ids(lookup, dialect) for lookup in _lookups(q)))
    return stmt.where(Customer.id.in_(ids)).order_by(Customer.customer_no, Customer.id)


def record_search(
    session: Session, q: str, results: int, *, actor: Actor, now: datetime
) -> None:
    """Audit a search: its kind and the number of results, never the text searched."""
    audit.record(
        session,
        actor=actor,
        action="customer.search",
        object_type="customer",
        detail={"by": describe_query(q), "results": results},
        now=now,
    )


# --- phones as a role may see them -------------------------------------------------------


@lru_cache(maxsize=8192)
def _national(e164: str) -> str:
    """display_phone, remembered: parsing a number costs a tenth of a millisecond, and a
    page of 50 worklist lines or search results shows 50 of them."""
    return display_phone(e164)


def shown_phone(e164: str | None, *, full: bool) -> str:
    """`138 0013 8000` for a calling role, `138****8000` for others (domain.md §9)."""
    if not e164:
        return ""
    if full:
        return _national(e164)
    masked = mask_phone(e164) or ""
    return masked[4:] if masked.startswith("+86 ") else masked


# --- the customer page -----------------------------------------------------------------


@dataclass
class VehicleRecord:
    vehicle: Vehicle
    visits: list[ServiceVisit] = field(default_factory=list)
    policies: list[InsurancePolicy] = field(default_factory=list)
    delivery: Delivery | None = None


@dataclass
class CustomerProfile:
    customer: Customer
    vehicles: list[VehicleRecord]
    ownership: list[OwnershipChange]
    today: date  # in the dealer's time zone
    insurance_lead_months: int

    def policy_state(self, policy: InsurancePolicy) -> str | None:
        """"expired", "due" (within the insurance lead, R5) or None."""
        if policy.expiry < self.today:
            return "expired"
        if policy.expiry <= add_months(self.today, self.insurance_lead_months):
            return "due"
        return None


def add_months(day: date, months: int) -> date:
    """Calendar months with end-of-month clamping (Jan 31 + 1 month = Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def load_profile(session: Session, customer_id: int, *, now: datetime) -> CustomerProfile | None:
    """Everything the customer page shows, in a fixed number of queries (no N+1)."""
    customer = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .options(selectinload(Customer.vehicles).joinedload(Vehicle.consultant))
    )
    if customer is None:
        return None
    records = {v.id: VehicleRecord(v) for v in customer.vehicles}
    ids = list(records)
    if ids:
        for visit in session.scalars(
            select(ServiceVisit)
            .where(ServiceVisit.vehicle_id.in_(ids))
            .order_by(ServiceVisit.date.desc(), ServiceVisit.id.desc())
        ):
            records[visit.vehicle_id].visits.append(visit)
        for policy in session.scalars(
            select(InsurancePolicy)
            .where(InsurancePolicy.vehicle_id.in_(ids))
            .options(joinedload(InsurancePolicy.specialist))
            .order_by(InsurancePolicy.expiry.desc(), InsurancePolicy.id.desc())
        ):
            records[policy.vehicle_id].policies.append(policy)
        for delivery in session.scalars(
            select(Delivery)
            .where(Delivery.vehicle_id.in_(ids))
            .options(joinedload(Delivery.consultant))
        ):
            records[delivery.vehicle_id].delivery = delivery
    involved = [OwnershipChange.old_customer_id == customer.id, OwnershipChange.new_customer_id == customer.id]
    if ids:
        involved.append(OwnershipChange.vehicle_id.in_(ids))
    ownership = list(
        session.scalars(
            select(OwnershipChange)
            .where(or_(*involved))
            .options(
                joinedload(OwnershipChange.vehicle),
                joinedload(OwnershipChange.old_customer),
                joinedload(OwnershipChange.new_customer),
            )
            .order_by(OwnershipChange.changed_at.desc(), OwnershipChange.id.desc())
        )
    )
    settings = load_settings(session)
    today = local_today(now, settings.timezone)
    return CustomerProfile(
        customer=customer,
        vehicles=list(records.values()),
        ownership=ownership,
        today=today,
        insurance_lead_months=settings.insurance_lead_months,
    )


def view_customer(
    session: Session, customer_id: int, *, actor: Actor, now: datetime
) -> CustomerProfile | None:
    """The customer page's data, and the audit row saying who looked (None: no such customer)."""
    profile = load_profile(session, customer_id, now=now)
    if profile is None:
        return None
    audit.record(
        session,
        actor=actor,
        action="customer.view",
        object_type="customer",
        object_id=customer_id,
        now=now,
    )
    session.flush()
    return profile


# --- export ----------------------------------------------------------------------------


@dataclass
class Export:
    text: str  # the CSV, starting with a UTF-8 byte-order mark for Excel
    rows: int
    capped: bool
    kind: str


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_customers(
    session: Session,
    q: str | None,
    *,
    full_phones: bool,
    headers: list[str],
    labels: dict[str, str],
    capped_note: str,
    actor: Actor,
    now: datetime,
    cap: int | None = None,
) -> Export:
    """The whole result of a search as CSV (at most `cap` rows), audited.

    `headers` are the column titles (translated by the caller), `labels` the customer
    classes' names, `capped_note` the first line written when the result was cut off.
    """
    cap = EXPORT_CAP if cap is None else cap
    stmt = search(session, q).limit(cap + 1)
    customers = list(session.scalars(stmt))
    capped = len(customers) > cap
    customers = customers[:cap]

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    if capped:
        writer.writerow([capped_note])
    writer.writerow(headers)
    for c in customers:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    c.customer_no,
                    c.name,
                    shown_phone(c.mobile, full=full_phones),
                    shown_phone(c.phone2, full=full_phones),
                    c.email,
                    c.city,
                    labels.get(c.customer_class, c.customer_class),
                    "; ".join(v.plate for v in c.vehicles if v.plate),
                    "; ".join(v.vin for v in c.vehicles),
                    "; ".join(v.model for v in c.vehicles if v.model),
                    "Y" if c.no_call else "",
                    "Y" if c.no_sms else "",
                    "Y" if c.no_email else "",
                )
            ]
        )
    kind = describe_query(q or "")
    audit.record(
        session,
        actor=actor,
        action="customer.export",
        object_type="customer",
        detail={"by": kind, "results": len(customers), "capped": capped, "full_phones": full_phones},
        now=now,
    )
    session.flush()
    return Export(out.getvalue(), len(customers), capped, kind)
