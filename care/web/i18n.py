"""Language: the user's own setting, else the browser's preference, else zh-CN."""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import current_user


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
