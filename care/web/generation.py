"""Task generation for managers: the runs of the daily generator, one run, "generate now".

The runs are written by the scheduler thread (care/scheduler.py), `care generate` and the
button here; all of them call care.services.generator.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from care.domain.roles import Role
from care.extensions import db
from care.models import GenerationRun
from care.models.types import utcnow
from care.services.generator import (
    GENERATED_TYPES,
    SKIP_REASONS,
    generate_requested,
    runs_statement,
)
from care.web.access import current_actor, roles_required
from care.web.htmx import render
from care.web.paging import paginate

bp = Blueprint("generation", __name__, url_prefix="/generation")

VIEWERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER, Role.ADMIN)
RUNNERS = (Role.CARE_MANAGER, Role.ADMIN)

def skip_totals(run: GenerationRun) -> list[tuple[str, int]]:
    """Skips of all types added up per reason, in SKIP_REASONS order (then any other)."""
    totals: dict[str, int] = {}
    for reasons in (run.skipped or {}).values():
        for reason, count in reasons.items():
            totals[reason] = totals.get(reason, 0) + count
    order = {r: i for i, r in enumerate(SKIP_REASONS)}
    return sorted(totals.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def type_rows(run: GenerationRun) -> list[tuple[str, int, dict[str, int]]]:
    """(type, created, {reason: n}) of every type the run created or skipped."""
    created, skipped = run.created or {}, run.skipped or {}
    known = [t for t in GENERATED_TYPES if t in created or t in skipped]
    others = sorted((set(created) | set(skipped)) - set(known))
    return [(t, created.get(t, 0), skipped.get(t, {})) for t in known + others]


def _context() -> dict:
    return {
        "skip_totals": skip_totals,
        "type_rows": type_rows,
        "generated_types": GENERATED_TYPES,
        "skip_reasons": SKIP_REASONS,
    }


@bp.get("/")
@roles_required(*VIEWERS)
def index():
    runs = paginate(runs_statement())
    return render("generation/index.html", "generation/_runs.html", runs=runs, **_context())


@bp.get("/<id:run_id>")
@roles_required(*VIEWERS)
def run(run_id: int):
    run = db.get_or_404(GenerationRun, run_id, description=_("There is no such generator run."))
    return render("generation/run.html", "generation/_run.html", run=run, **_context())


@bp.post("/now")
@roles_required(*RUNNERS)
def generate_now():
    """Catch up missed days and generate today again (an explicit request)."""
    runs = generate_requested(db.session, actor=current_actor(), now=utcnow())
    created = sum(r.created_total for r in runs)
    days = len(runs)
    flash(
        ngettext(
            "Generated %(days)s day: %(created)s new task(s).",
            "Generated %(days)s days: %(created)s new task(s).",
            days,
            days=days,
            created=created,
        ),
        "success",
    )
    target = url_for(".run", run_id=runs[-1].id) if runs else url_for(".index")
    return redirect(target, code=303)
