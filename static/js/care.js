// Small behaviours htmx does not cover. No framework, nothing from a CDN.
document.addEventListener("keydown", (ev) => {
  // "/" focuses the page's search box, as in most web apps.
  if (ev.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
    const box = document.querySelector("[data-search]");
    if (box) { ev.preventDefault(); box.focus(); box.select(); }
  }
});

// Worklist (templates/tasks): j / k move the selection between contact lines, Enter opens
// the selected contact, "/" focuses the filters when the page has no search box; ticking a
// contact line ticks each of its tasks.
(() => {
  const rows = () => Array.from(document.querySelectorAll("[data-contact]"));
  const typing = () => {
    const el = document.activeElement;
    if (!el) return false;
    if (el.tagName === "INPUT") return !["checkbox", "radio"].includes(el.type);
    return ["TEXTAREA", "SELECT"].includes(el.tagName) || el.isContentEditable;
  };
  const choose = (row) => {
    rows().forEach((r) => r.classList.toggle("is-selected", r === row));
    const link = row.querySelector("[data-contact-link]");
    if (link) link.focus();
    row.scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("focusin", (ev) => {
    const row = ev.target.closest && ev.target.closest("[data-contact]");
    if (row) rows().forEach((r) => r.classList.toggle("is-selected", r === row));
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/" && !document.querySelector("[data-search]") && !typing()) {
      const first = document.querySelector("[data-filter-focus]");
      if (first) { ev.preventDefault(); first.focus(); }
      return;
    }
    const list = rows();
    if (!list.length) return;
    if ((ev.key === "j" || ev.key === "k") && !typing()) {
      const at = list.findIndex((r) => r.classList.contains("is-selected"));
      const step = ev.key === "j" ? 1 : -1;
      const next = at < 0 ? 0 : Math.max(0, Math.min(list.length - 1, at + step));
      ev.preventDefault();
      choose(list[next]);
    } else if (ev.key === "Enter" && (document.activeElement === document.body || !document.activeElement)) {
      const link = document.querySelector("[data-contact].is-selected [data-contact-link]");
      if (link) { ev.preventDefault(); link.click(); }
    }
  });
  document.addEventListener("change", (ev) => {
    const box = ev.target;
    if (!box.matches || !box.matches("input[type=checkbox][form='reassign-form']")) return;
    const row = box.closest("[data-contact]");
    if (!row) return;
    const line = row.querySelector("[data-select-line]");
    const tasks = Array.from(row.querySelectorAll("input[type=checkbox][form='reassign-form']:not([data-select-line])"));
    if (box === line) tasks.forEach((t) => { t.checked = line.checked; });
    else if (line) line.checked = tasks.every((t) => t.checked);  // the line box means "all of them"
  });
})();

// Scripts (话术): insert a merge field at the cursor; select a reported problem.
document.addEventListener("click", (ev) => {
  const insert = ev.target.closest("[data-insert]");
  if (insert) {
    const box = document.querySelector(insert.dataset.target || "textarea");
    if (!box) return;
    ev.preventDefault();
    box.focus();
    box.setRangeText(insert.dataset.insert, box.selectionStart, box.selectionEnd, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));
    return;
  }
  const problem = ev.target.closest("[data-select-offset]");
  if (problem) {
    const box = document.querySelector("#script-body");
    if (!box) return;
    ev.preventDefault();
    const start = Number(problem.dataset.selectOffset);
    box.focus();
    box.setSelectionRange(start, start + Number(problem.dataset.selectLength || 1));
  }
});

// The main navigation's menus (<details class="nav-menu">): one open at a time; a click
// elsewhere or Escape closes them (Escape gives the focus back to the menu's summary).
(() => {
  const menus = () => Array.from(document.querySelectorAll("details.nav-menu"));
  document.addEventListener("toggle", (ev) => {
    const opened = ev.target;
    if (!(opened instanceof HTMLDetailsElement) || !opened.classList.contains("nav-menu") || !opened.open) return;
    menus().forEach((m) => { if (m !== opened) m.open = false; });
  }, true);
  document.addEventListener("click", (ev) => {
    menus().forEach((m) => { if (m.open && !m.contains(ev.target)) m.open = false; });
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    menus().forEach((m) => {
      if (!m.open) return;
      m.open = false;
      if (m.contains(document.activeElement)) m.querySelector("summary").focus();
    });
  });
})();
// The register's Print button (templates/register): the page's A4 print layout.
document.addEventListener("click", (ev) => {
  if (ev.target.closest && ev.target.closest("[data-print]")) window.print();
});
