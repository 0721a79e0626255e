// Small behaviours htmx does not cover. No framework, nothing from a CDN.
document.addEventListener("keydown", (ev) => {
  // "/" focuses the page's search box, as in most web apps.
  if (ev.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
    const box = document.querySelector("[data-search]");
    if (box) { ev.preventDefault(); box.focus(); box.select(); }
  }
});
