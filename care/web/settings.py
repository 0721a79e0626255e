"""The settings page: every rule parameter of spec/domain.md, grouped, editable by admins.

One form posts all values. Each value is checked on its own first, so that every bad
field gets its message beside it and nothing typed is lost; only then are the values
stored together (set_settings checks the cross-field rules and audits the change).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf import FlaskForm

from care.domain.roles import Role
from care.domain.settings import BY_KEY, GROUPS, SETTINGS, SettingDef, SettingError
from care.extensions import db
from care.models.types import utcnow
from care.services.settings import load_settings, set_settings, stored_texts
from care.web import labels
from care.web.access import current_actor, roles_required
from care.web.htmx import is_htmx, render
from care.web.i18n import translated

bp = Blueprint("settings", __name__, url_prefix="/settings")


class SettingsForm(FlaskForm):
    """The values themselves are read by key from the request: the registry is the form."""


def _row(sdef: SettingDef, values, stored, typed: dict[str, str], errors: dict[str, str], note: str | None = None) -> dict:
    row = stored.get(sdef.key)
    show = sdef.kind.show or sdef.kind.fmt  # e.g. a rate: stored 0.8, shown 80%
    default = show(sdef.default_value)
    current = show(values[sdef.key])
    stored_invalid = None
    if row is not None:
        try:
            sdef.parse(row.value)
        except SettingError:
            stored_invalid = row.value
    return {
        "key": sdef.key,
        "label": labels.setting_label(sdef),
        "rule": sdef.rule,
        "unit": labels.unit_label(sdef.unit) if sdef.unit else "",
        "kind": sdef.kind.name,
        "hint": _(sdef.kind.hint) if sdef.kind.hint else labels.setting_kind_hint(sdef.kind.name),
        "value": typed.get(sdef.key, current),
        "current": current,
        "default": default,
        "is_default": current == default,
        "updated_by": row.updated_by if row else None,
        "updated_at": row.updated_at if row else None,
        "stored_invalid": stored_invalid,
        "error": errors.get(sdef.key),
        "note": note,
    }


def _groups(typed: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> list[dict]:
    values = load_settings(db.session)
    stored = stored_texts(db.session)
    typed, errors = typed or {}, errors or {}
    return [
        {
            "key": group,
            "name": labels.setting_group_label(group),
            "rows": [_row(s, values, stored, typed, errors) for s in SETTINGS if s.group == group],
        }
        for group in GROUPS
    ]


def _page(status: int = 200, **context):
    context.setdefault("groups", _groups())
    context.setdefault("top_errors", [])
    return render("settings/index.html", "settings/_form.html", form=SettingsForm(), **context), status


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def index():
    if request.method == "GET":
        return _page()

    # Only the settings the form sent: a partial post changes only those.
    typed = {s.key: request.form[s.key] for s in SETTINGS if s.key in request.form}
    errors: dict[str, str] = {}
    for key, text in typed.items():
        try:
            BY_KEY[key].parse(text)
        except SettingError as exc:
            errors[key] = translated(exc)
    top_errors: list[str] = []
    if not errors:
        try:
            changed = set_settings(
                db.session,
                typed,
                actor=current_actor(),
                now=utcnow(),
            )
        except SettingError as exc:  # refused before anything was stored
            message = translated(exc)
            if exc.key:
                errors[exc.key] = message
            else:
                top_errors.append(message)
                for key in exc.keys:  # mark both fields of the pair
                    errors.setdefault(key, _("See the message at the top of the page."))
        else:
            _flash_changed(changed)
            return redirect(url_for("settings.index"), code=303)
    if errors and not top_errors:
        top_errors.append(
            ngettext(
                "%(num)d value needs correcting; nothing was saved.",
                "%(num)d values need correcting; nothing was saved.",
                len(errors),
            )
        )
    return _page(422, groups=_groups(typed, errors), top_errors=top_errors)


def _flash_changed(changed: dict) -> None:
    if not changed:
        flash(_("Nothing changed: these values were saved already."), "info")
        return
    names = ", ".join(labels.setting_label(BY_KEY[k]) for k in changed)
    flash(
        ngettext(
            "%(num)d setting changed: %(names)s.",
            "%(num)d settings changed: %(names)s.",
            len(changed),
            names=names,
        ),
        "success",
    )


@bp.route("/<key>/reset", methods=["POST"])
@roles_required(Role.ADMIN)
def reset(key: str):
    """Put one setting back to its default (a plain post, or htmx swapping the row)."""
    sdef = BY_KEY.get(key)
    if sdef is None:
        abort(404)
    error = note = None
    try:
        changed = set_settings(
            db.session,
            {key: sdef.default},
            actor=current_actor(),
            now=utcnow(),
        )
    except SettingError as exc:
        error = _("Not reset: %(reason)s", reason=translated(exc))
    else:
        note = _("Reset to the default.") if changed else _("This is the default already.")

    if is_htmx():
        values, stored = load_settings(db.session), stored_texts(db.session)
        row = _row(sdef, values, stored, {}, {key: error} if error else {}, note=note)
        response = render_template("settings/_row.html", row=row)
        if error:
            return response, 422
        return response, 200, {"HX-Trigger": "settings-changed"}
    if error:
        flash(f"{labels.setting_label(sdef)}: {error}", "error")
    else:
        flash(f"{labels.setting_label(sdef)}: {note}", "success")
    return redirect(url_for("settings.index", _anchor=f"setting-{key}"), code=303)
