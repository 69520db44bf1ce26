// Progressive enhancement only: every page works without this script.
// Filter forms apply as soon as a choice changes.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.filters select").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
});
