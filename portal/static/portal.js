// Progressive enhancement only: every page works without this script.
// Filter forms apply as soon as a choice changes.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.filters select").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
});

// A page with data-poll (the download's progress) reloads itself every
// data-poll milliseconds until the server says it is ready.
document.addEventListener("DOMContentLoaded", function () {
  var poll = document.querySelector("[data-poll]");
  if (poll) {
    setTimeout(function () { window.location.reload(); }, parseInt(poll.getAttribute("data-poll"), 10) || 2000);
  }
});
