"""Language: the user's own setting, else the browser's preference, else zh-CN; errors
(an English message id and its params) translated."""

from __future__ import annotations

from flask import current_app, request, session
from flask_babel import gettext as _
from flask_login import current_user

from care.domain.settings import BY_KEY
from care.web.labels import setting_label


def select_locale() -> str:
    languages = current_app.config["CARE_LANGUAGES"]
    user = current_user if current_user else None
    if user is not None and getattr(user, "is_authenticated", False) and user.locale in languages:
        return user.locale
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    if request:
        best = request.accept_languages.best_match(
            [lang.replace("_", "-") for lang in languages] + list(languages)
        )
        if best:
            best = best.replace("-", "_")
            for lang in languages:
                if lang.lower() == best.lower() or lang.split("_")[0] == best.split("_")[0]:
                    return lang
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    from care.web.request_settings import current_settings

    return current_settings().timezone


def translated(exc: Exception) -> str:
    """A SettingError / ServiceError / DmsError (English template + params) in the user's
    language (its English text otherwise).

    Params that name settings (`exc.keys`, the pair of a cross-field rule) are shown as
    the settings' translated labels.
    """
    template = getattr(exc, "template", None)
    if not template:
        return str(exc)
    params = dict(getattr(exc, "params", None) or {})
    keys = set(getattr(exc, "keys", ()) or ())
    for name, value in params.items():
        if isinstance(value, str) and value in keys and value in BY_KEY:
            params[name] = "“" + setting_label(BY_KEY[value]) + "”"
    return _(template, **params)
