// The questionnaire beside the call (templates/phone_survey): on an item's radio group a
// digit chooses that score (and saves it: the change posts the item), "n" (or "-", or 0
// on a scale without 0) "did not answer"; Tab goes to the next item as usual. On a scale
// up to 10, "1" chooses 1 and a "0" right after (within 1.2 s) makes it 10.
(() => {
  let pending = null;
  const clearPending = () => { if (pending) clearTimeout(pending.timer); pending = null; };
  const choose = (row, value) => {
    const input = row.querySelector(`input[name="score"][value="${value}"]`);
    if (!input || input.disabled) return;
    input.focus();
    if (!input.checked) {
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const target = ev.target;
    if (!target || target.type !== "radio" || !target.closest) return;
    const row = target.closest("[data-survey-item]");
    const panel = row && row.closest("[data-survey]");
    if (!panel) return;
    const min = Number(panel.dataset.min);
    const max = Number(panel.dataset.max);
    const key = ev.key;
    if (key === "n" || key === "N" || key === "-" || (key === "0" && min > 0 && !(pending && pending.row === row))) {
      ev.preventDefault();
      clearPending();
      choose(row, "none");
      return;
    }
    if (!/^[0-9]$/.test(key)) return;
    ev.preventDefault();
    const digit = Number(key);
    if (pending && pending.row === row) {
      const two = pending.digit * 10 + digit;
      clearPending();
      if (two >= min && two <= max) { choose(row, String(two)); return; }
    }
    clearPending();
    if (digit < min || digit > max) return;
    choose(row, String(digit));
    if (digit > 0 && digit * 10 <= max) {
      pending = { row, digit, timer: setTimeout(clearPending, 1200) };
    }
  });
})();
