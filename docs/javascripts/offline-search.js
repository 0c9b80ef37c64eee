// Search needs the site served over HTTP: a page opened from disk (file://) cannot load the
// search index, and the theme then drops the search box without a word. Say so, and how to
// serve the site, at the top of each page.
(function () {
  if (window.location.protocol !== "file:") {
    return;
  }
  function explain() {
    var content = document.querySelector(".md-content__inner");
    if (!content || document.getElementById("offline-search-note")) {
      return;
    }
    var note = document.createElement("div");
    note.id = "offline-search-note";
    note.className = "admonition info";
    note.innerHTML =
      '<p class="admonition-title">Search needs the site to be served</p>' +
      "<p>This page was opened from disk, where the browser does not let the search index " +
      "load. Serve the site instead: <code>make docs-serve</code> in a checkout, or " +
      "<code>python3 -m http.server -d .venv/site 8000</code> after <code>make docs</code>, " +
      "then open <code>http://127.0.0.1:8000/</code>.</p>";
    content.insertBefore(note, content.firstChild);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", explain);
  } else {
    explain();
  }
})();
