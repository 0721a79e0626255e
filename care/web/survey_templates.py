"""Survey templates (domain.md §6): the templates in force, one template with its
versions, and the editor (each save is a new version; responses keep theirs).

Read by the managers and the administrator; edited by the care manager and the
administrator. The editor is one form: the template's names and scale, a row per factor
and per item (blank rows add, a row emptied is removed), the overall-satisfaction item.
Bad weights, codes or scales come back on the same form with the message of
care.domain.surveys (by how much the weights are off), the input kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from care.domain import N_
from care.domain import surveys as dom
from care.domain.roles import Role
from care.extensions import db
from care.models import SurveyTemplate, SurveyTemplateVersion
from care.models.types import utcnow
from care.services import ServiceError
from care.services import surveys as svc
from care.web.access import roles_required, user_can
from care.web.labels import show_datetime

bp = Blueprint("survey_templates", __name__, url_prefix="/surveys/templates")

READERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER, Role.SALES_MANAGER, Role.ADMIN)
EDITORS = (Role.CARE_MANAGER, Role.ADMIN)
BLANK_ITEMS = 1  # blank item rows under each factor (to add one)
BLANK_ITEMS_NEW_FACTOR = 3
MAX_ROWS = 60  # factors, and items per factor, the form reads at most
MAX_TEXT = 300


def in_chinese() -> bool:
    return str(get_locale() or "zh").startswith("zh")


def local_text(zh: str, en: str) -> str:
    """A bilingual text in the user's language (the other when that one is empty)."""
    return (zh or en) if in_chinese() else (en or zh)


@dataclass
class Row:
    code: str = ""
    zh: str = ""
    en: str = ""
    weight: str = ""
    items: list[Row] = field(default_factory=list)

    def blank(self) -> bool:
        return not (self.code or self.zh or self.en or self.weight) and all(i.blank() for i in self.items)


@dataclass
class Draft:
    """The editor's content as text (what the form shows and posts back)."""

    code: str
    name_zh: str
    name_en: str
    scale: str
    overall: Row
    factors: list[Row]
    note: str = ""


def _weight_text(w: float) -> str:
    return f"{w:.2f}".rstrip("0").rstrip(".")


def draft_of(version: SurveyTemplateVersion) -> Draft:
    spec = svc.spec_of(version)
    return Draft(
        code=spec.code,
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        scale=f"{spec.scale.min}-{spec.scale.max}",
        overall=Row(spec.overall.code, spec.overall.text_zh, spec.overall.text_en),
        factors=[
            Row(f.code, f.name_zh, f.name_en, _weight_text(f.weight), [Row(i.code, i.text_zh, i.text_en, _weight_text(i.weight)) for i in f.items])
            for f in spec.factors
        ],
    )


def _blank_factor() -> Row:
    return Row(items=[Row() for _ in range(BLANK_ITEMS_NEW_FACTOR)])


def with_blank_rows(draft: Draft) -> Draft:
    """The draft with blank rows to add an item under each factor and a factor."""
    for factor in draft.factors:
        if not factor.items or not factor.items[-1].blank():
            factor.items.extend(Row() for _ in range(BLANK_ITEMS))
    if not draft.factors or not draft.factors[-1].blank():
        draft.factors.append(_blank_factor())
    return draft


def _text(name: str) -> str:
    return (request.form.get(name) or "").strip()[:MAX_TEXT]


def draft_from_form(code: str) -> Draft:
    factors = []
    for fi in range(MAX_ROWS):
        prefix = f"f-{fi}-"
        if f"{prefix}code" not in request.form:
            break
        items = []
        for ii in range(MAX_ROWS):
            ip = f"i-{fi}-{ii}-"
            if f"{ip}code" not in request.form:
                break
            items.append(Row(_text(f"{ip}code"), _text(f"{ip}zh"), _text(f"{ip}en"), _text(f"{ip}weight")))
        factors.append(Row(_text(f"{prefix}code"), _text(f"{prefix}zh"), _text(f"{prefix}en"), _text(f"{prefix}weight"), items))
    return Draft(
        code=code,
        name_zh=_text("name_zh"),
        name_en=_text("name_en"),
        scale=_text("scale"),
        overall=Row(_text("o-code"), _text("o-zh"), _text("o-en")),
        factors=factors,
        note=_text("note")[:500],
    )


def _weight(text: str, code: str) -> float:
    try:
        value = float(text.replace("%", "").replace("％", "").strip())
    except ValueError:
        raise dom.SurveyError(
            N_("The weight “%(value)s” of “%(code)s” is not a number"), field="weight", value=text, code=code or "?"
        ) from None
    if not math.isfinite(value):
        raise dom.SurveyError(N_("The weight “%(value)s” of “%(code)s” is not a number"), field="weight", value=text, code=code or "?")
    return value


def spec_from_draft(draft: Draft) -> dom.TemplateSpec:
    """The draft read into a spec (blank rows left out); SurveyError for what cannot be
    read (a weight that is no number, an unknown scale). The rules are checked after."""
    scales = {f"{low}-{high}": (low, high) for low, high in dom.SCALES}
    if draft.scale not in scales:
        raise dom.SurveyError(N_("Choose one of the scales offered"), field="scale")
    factors = []
    for f in draft.factors:
        if f.blank():
            continue
        items = tuple(
            dom.ItemSpec(i.code, i.zh, i.en, _weight(i.weight, i.code)) for i in f.items if not i.blank()
        )
        factors.append(dom.FactorSpec(f.code, f.zh, f.en, _weight(f.weight, f.code), items))
    return dom.TemplateSpec(
        code=draft.code,
        name_zh=draft.name_zh,
        name_en=draft.name_en,
        factors=tuple(factors),
        overall=dom.ItemSpec(draft.overall.code, draft.overall.zh, draft.overall.en, 0.0),
        scale=dom.Scale(*scales[draft.scale]),
    )


def _template_or_404(code: str) -> SurveyTemplate:
    template = db.session.scalars(db.select(SurveyTemplate).where(SurveyTemplate.code == code)).first()
    if template is None:
        abort(404, description=_("There is no survey template “%(code)s”.", code=code[:40]))
    return template


def _context(**extra) -> dict:
    return {
        "local_text": local_text,
        "other_lang": "en" if in_chinese() else "zh-CN",
        "show_datetime": show_datetime,
        "scales": [f"{low}-{high}" for low, high in dom.SCALES],
        "can_edit": user_can("survey_templates.save"),
        **extra,
    }


# --- pages ---------------------------------------------------------------------------------


@bp.route("/")
@roles_required(*READERS)
def index():
    versions = svc.templates_in_force(db.session)
    return _render_page("survey_templates/index.html", versions=versions)


def _render_page(name: str, **context):
    from flask import render_template

    return render_template(name, **_context(**context))


@bp.route("/<code>")
@roles_required(*READERS)
def show(code: str):
    svc.ensure_seeded(db.session)
    template = _template_or_404(code)
    raw = (request.args.get("version") or "").strip()
    number = template.current_version
    if raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
            abort(400, description=_("The version must be a whole number from 1 on."))
        number = int(raw)
    version = next((v for v in template.versions if v.version == number), None)
    if version is None:
        abort(404, description=_("Template “%(code)s” has no version %(version)s.", code=code[:40], version=number))
    version = svc.get_version(db.session, version.id)
    return _render_page("survey_templates/show.html", template=template, version=version)


@bp.route("/<code>/edit")
@roles_required(*EDITORS)
def edit(code: str):
    svc.ensure_seeded(db.session)
    template = _template_or_404(code)
    draft = with_blank_rows(draft_of(svc.current_version(db.session, template.code)))
    return _render_page("survey_templates/edit.html", template=template, draft=draft, form=FlaskForm(), error=None)


@bp.route("/<code>/edit", methods=["POST"])
@roles_required(*EDITORS)
def save(code: str):
    svc.ensure_seeded(db.session)
    template = _template_or_404(code)
    form = FlaskForm()
    draft = draft_from_form(template.code)
    error = None
    if not form.validate_on_submit():
        error = _("The form expired; please try again.")
    else:
        try:
            spec = spec_from_draft(draft)
            version = svc.save_template(db.session, template.code, spec, user=current_user, note=draft.note or None, now=utcnow())
        except (dom.SurveyError, ServiceError) as exc:
            error = _(exc.template, **exc.params) if exc.template else str(exc)
        else:
            flash(_("Saved as version %(version)s. Responses taken before keep the version they were taken with.", version=version.version), "success")
            return redirect(url_for("survey_templates.show", code=template.code), code=303)
    return (
        _render_page("survey_templates/edit.html", template=template, draft=with_blank_rows(draft), form=form, error=error),
        422,
    )
