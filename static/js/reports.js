// The monthly report page: its Print button opens the browser's print dialog (the page's
// print CSS lays it out on A4 without the navigation and the forms).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-print]");
  if (button) window.print();
});
