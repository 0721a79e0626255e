// "n" follows the page's "Next contact" link (templates/worklist/_next_contact.html).
// Not while typing: in an input, text area, select or editable text, during an IME
// composition (Chinese input), with a modifier key or a held-down key. Loaded by the
// partial itself, possibly more than once (htmx swaps): the handler is added once.
(() => {
  if (window.careNextContactKey) return;
  window.careNextContactKey = true;
  const typing = (el) =>
    !!el && (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) || el.isContentEditable);
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "n" || ev.repeat || ev.isComposing) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.shiftKey) return;
    if (typing(ev.target) || typing(document.activeElement)) return;
    const link = document.querySelector("a[data-next-contact]");
    if (!link) return;
    ev.preventDefault();
    link.click();
  });
})();
