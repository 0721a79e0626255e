"""The audit log in words (issue 10): what each entry's codes and ids are called.

An entry stores codes and ids (`login.failed`, customer 42, care_task 7). The audit page
shows, for each: who acted (a user's name, "command line" …), the action as a phrase
(its code kept as the title and as the filter's value), the object by name with a link
where the viewer may open it, and the detail as labelled lines. Customers are named in
full only to roles that may read customers (care.domain.roles.CUSTOMER_READERS); an
administrator sees a masked name (王**) and the customer number, like a phone number is
masked for roles that do not call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from flask_babel import gettext as _

from care.domain.settings import BY_KEY as SETTINGS_BY_KEY
from care.domain.settings import SettingError
from care.models import AuditLog, Customer, User
from care.services.audit import NamedObjects
from care.web import labels
from care.web.access import user_can

MAX_LIST_ITEMS = 8  # a detail's list (message ids, days …) is cut after this many


@dataclass
class Named:
    """An actor or object in words, with the page that shows it (None: no link for this
    viewer, or nothing to open)."""

    text: str
    url: str | None = None
    code: str = ""  # the stored reference, e.g. "customer 42" (the cell's title)


@dataclass
class AuditRow:
    entry: AuditLog
    actor: Named
    action: str
    action_code: str
    object: Named | None
    lines: list[str] = field(default_factory=list)


def mask_name(name: str | None) -> str:
    """王小明 → 王**: the first character, the rest hidden (as many stars)."""
    name = (name or "").strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else "—"


def _may_read_customers() -> bool:
    return user_can("customers.detail")


def customer_named(customer: Customer | None, customer_id: int | str | None) -> Named:
    code = f"customer {customer_id}"
    if customer is None:
        return Named(_("Customer #%(id)s (no longer on file)", id=customer_id), code=code)
    if not _may_read_customers():
        return Named(f"{mask_name(customer.name)} · {customer.customer_no}", code=code)
    return Named(
        f"{customer.name} · {customer.customer_no}", url_for("customers.detail", customer_id=customer.id), code
    )


def user_named(user: User | None, user_id: int | str | None) -> Named:
    code = f"user {user_id}"
    if user is None:
        return Named(_("User #%(id)s (no longer on file)", id=user_id), code=code)
    text = user.label if user.label == user.username else f"{user.label} ({user.username})"
    url = url_for("admin.user", user_id=user.id) if user_can("admin.user") else None
    return Named(text, url, code)


def actor_named(entry: AuditLog) -> Named:
    """Who acted: the user by name, a program in words, a name typed at log-in as typed."""
    if entry.user is not None:
        named = user_named(entry.user, entry.user_id)
        return Named(named.text, named.url, entry.actor)
    if entry.actor in labels.AUDIT_ACTORS:
        return Named(str(labels.AUDIT_ACTORS[entry.actor]), code=entry.actor)
    if entry.action.startswith("login"):  # a name that is no user, typed at the log-in
        return Named(_("“%(name)s” (no such user)", name=entry.actor), code=entry.actor)
    return Named(entry.actor, code=entry.actor)


def _int(value: Any) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def object_named(entry: AuditLog, found: NamedObjects) -> Named | None:
    kind, raw = entry.object_type, entry.object_id
    number = _int(raw)
    code = f"{kind} {raw}" if raw else (kind or "")
    if kind == "user" and number is not None:
        return user_named(found.users.get(number), number)
    if kind == "customer" and number is not None:
        return customer_named(found.customers.get(number), number)
    if kind == "customer":  # a search or an export: many customers
        return Named(_("Customers"), code=code)
    if kind == "care_task" and number is not None:
        task = found.tasks.get(number)
        if task is None:
            return Named(_("Task #%(id)s (no longer on file)", id=number), code=code)
        customer = customer_named(task.customer, task.customer_id).text
        url = url_for("contact.task", task_id=task.id) if user_can("contact.task") else None
        return Named(f"{labels.task_type_label(task.type)} · {customer}", url, code)
    if kind == "care_tasks":
        return Named(_("Care tasks"), code=code)
    if kind == "import_run" and number is not None:
        run = found.import_runs.get(number)
        if run is None:
            return Named(_("Import #%(id)s", id=number), code=code)
        url = url_for("imports.run", run_id=run.id) if user_can("imports.run") else None
        return Named(_("%(kind)s import #%(id)s (%(file)s)", kind=labels.import_kind_label(run.kind), id=run.id,
                       file=run.filename), url, code)
    if kind == "generation_run":
        run = found.generation_runs.get(number) if number is not None else None
        if run is None:
            return Named(_("Task generation"), code=code)
        url = url_for("generation.run", run_id=run.id) if user_can("generation.run") else None
        return Named(_("Task generation of %(date)s", date=labels.show_date(run.for_date)), url, code)
    if kind == "script" and raw:
        url = url_for("scripts.script", task_type=raw) if user_can("scripts.script") else None
        return Named(_("Script: %(type)s", type=labels.task_type_label(raw)), url, code)
    if kind == "message_template" and raw:
        task_type, _sep, channel = raw.partition(":")
        url = (
            url_for("messages.template", task_type=task_type, channel=channel)
            if channel and user_can("messages.template")
            else None
        )
        return Named(
            _("Message template: %(type)s · %(channel)s", type=labels.task_type_label(task_type),
              channel=labels.channel_label(channel)),
            url,
            code,
        )
    if kind == "settings":
        return Named(_("Settings"), url_for("settings.index") if user_can("settings.index") else None, code)
    if kind == "outbox":
        return Named(_("Outbox"), url_for("messages.outbox") if user_can("messages.outbox") else None, code)
    if kind == "demo":
        return Named(_("Demo data"), code=code)
    if kind:
        return Named(code, code=code)
    return None


# --- the detail ------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if isinstance(value, list | tuple):
        shown = [_value(v) for v in value[:MAX_LIST_ITEMS]]
        more = len(value) - MAX_LIST_ITEMS
        return ", ".join(shown) + (" " + _("and %(num)d more", num=more) if more > 0 else "")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items())
    return str(value)


def _setting_value(key: str, text: Any) -> str:
    """A setting's stored text as the settings page shows it (a rate as 80 %)."""
    sdef = SETTINGS_BY_KEY.get(key)
    if sdef is None or text is None:
        return _value(text)
    try:
        return (sdef.kind.show or sdef.kind.fmt)(sdef.parse(str(text)))
    except SettingError:
        return str(text)


def _line(name: str, value: str) -> str:
    return _("%(name)s: %(value)s", name=name, value=value)


def _key(key: str) -> str:
    label = labels.AUDIT_DETAIL_KEYS.get(key)
    return str(label) if label is not None else key


def _labelled(key: str, value: Any, entry: AuditLog, found: NamedObjects) -> str:
    """One value of a detail in words, where its key says what it is."""
    if key == "roles" and isinstance(value, list):
        return ", ".join(labels.role_label(r) for r in value) or "—"
    if key == "reason" and entry.action.startswith("login"):
        return str(labels.AUDIT_LOGIN_REASONS.get(value, value))
    if key == "by":
        return str(labels.AUDIT_SEARCH_KINDS.get(value, value))
    if key == "field" and value in labels.PHONE_FIELDS:
        return str(labels.PHONE_FIELDS[value])
    if key in ("task_type", "type") and isinstance(value, str):
        return labels.task_type_label(value)
    if key == "kind" and entry.action == "import":
        return labels.import_kind_label(value)
    if key == "status" and entry.action == "import":
        return labels.import_status_label(value)
    if key == "locale":
        return {"zh_CN": "中文", "en": "English"}.get(value, _value(value))
    if key == "via" and value == "script.preview":
        return _("script preview")
    if key == "messages" and isinstance(value, list):
        return str(len(value))
    if key == "created" and isinstance(value, dict):  # a generator run's {task type: n}
        return ", ".join(f"{labels.task_type_label(t)} {n}" for t, n in value.items()) or "0"
    return _value(value)


def detail_lines(entry: AuditLog, found: NamedObjects) -> list[str]:
    """An entry's detail as labelled lines: "what: old → new" for changes."""
    detail = entry.detail
    if not detail:
        return []
    if not isinstance(detail, dict):
        return [_value(detail)]
    if entry.action == "settings.update":
        lines = []
        for key, change in detail.items():
            name = labels.setting_label(SETTINGS_BY_KEY[key]) if key in SETTINGS_BY_KEY else key
            if isinstance(change, dict) and set(change) == {"old", "new"}:
                old, new = _setting_value(key, change["old"]), _setting_value(key, change["new"])
                lines.append(_line(name, f"{old} → {new}"))
            else:
                lines.append(_line(name, _value(change)))
        return lines
    if entry.action == "task.reassign":
        ends = []
        for end in ("from", "to"):
            number = _int(detail.get(end))
            ends.append(user_named(found.users.get(number), number).text if number is not None else _("nobody"))
        return [_("From %(old)s to %(new)s", old=ends[0], new=ends[1])]
    lines = []
    for key, value in detail.items():
        if key == "correction_id":
            continue  # the correction's own record; its id says nothing here
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            old, new = (_labelled(key, value[k], entry, found) for k in ("old", "new"))
            lines.append(_line(_key(key), f"{old} → {new}"))
        else:
            lines.append(_line(_key(key), _labelled(key, value, entry, found)))
    return lines


def rows(page: list[AuditLog], found: NamedObjects) -> list[AuditRow]:
    return [
        AuditRow(
            entry=e,
            actor=actor_named(e),
            action=labels.audit_action_label(e.action, e.object_type),
            action_code=e.action,
            object=object_named(e, found),
            lines=detail_lines(e, found),
        )
        for e in page
    ]


# --- the filter --------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionChoice:
    value: str  # a code, or a group "login.*"
    label: str


def action_choices(known: list[str]) -> list[tuple[str, list[ActionChoice]]]:
    """The filter's actions in words, grouped (Log-ins: all, Logged in, Log-in failed …):
    every action this page knows, and any other code found in the log (as itself)."""
    codes = sorted({a for a in labels.AUDIT_ACTIONS if ":" not in a} | set(known))
    groups: dict[str, list[ActionChoice]] = {}
    for code in codes:
        groups.setdefault(labels.audit_action_group_label(code), []).append(
            ActionChoice(code, labels.audit_action_label(code))
        )
    out = []
    for name, choices in groups.items():
        prefixes = sorted({c.value.split(".", 1)[0] for c in choices if "." in c.value})
        whole = [
            ActionChoice(f"{p}.*", str(labels.AUDIT_ACTION_ALL.get(p) or _("%(group)s: all", group=name)))
            for p in prefixes
            if sum(1 for c in choices if c.value == p or c.value.startswith(p + ".")) > 1
        ]
        out.append((name, whole + sorted(choices, key=lambda c: c.label)))
    return sorted(out, key=lambda g: g[0])


def is_exact_action(action: str, known: list[str]) -> bool:
    """A code chosen from the filter matches only itself (“Logged in” is not “Log-in
    failed”); anything typed by hand ("user") matches its sub-actions too."""
    return action in labels.AUDIT_ACTIONS or action in known

