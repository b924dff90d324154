// ccm-ledger web view: enhancements only. Every page works without this
// script: sorting and filtering are links and forms the server answers.
"use strict";

// A meeting picked is shown at once.
function autosubmit(root) {
  root.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () {
      if (sel.value !== "") sel.form.requestSubmit();
    });
  });
}

function cellText(row, i) {
  var c = row.cells[i];
  return c ? c.textContent.trim() : "";
}

// Sortable tables: a header's link sorts in place, as the server would
// (empty cells last), and the address keeps the order, so it can be cited.
function sortable(root) {
  root.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      var a = th.querySelector("a");
      if (!a) return;
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var desc = th.getAttribute("aria-sort") === "ascending";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (x, y) {
          var p = cellText(x, i), q = cellText(y, i);
          if ((p === "–" || p === "") !== (q === "–" || q === "")) return (p === "–" || p === "") ? 1 : -1;
          if (p === q) return 0;
          return (p < q) !== desc ? -1 : 1;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        Array.prototype.forEach.call(heads, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var u = new URL(a.href, location.href);
        u.searchParams.set("sort", th.dataset.key);
        if (desc) u.searchParams.set("dir", "desc"); else u.searchParams.delete("dir");
        history.replaceState(null, "", u.pathname + u.search);
        a.href = u.pathname + u.search;
      });
    });
  });
}

// Filter as one types: rows whose name or code does not hold the text are
// hidden; the form still filters on the server when submitted.
function filterable(root) {
  root.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.getElementById(input.dataset.filter);
    if (!table) return;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase(), n = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        var show = q === "" || cellText(r, 0).toLowerCase().indexOf(q) >= 0 || cellText(r, 1).toLowerCase().indexOf(q) >= 0;
        r.hidden = !show;
        if (show) n++;
      });
      var count = table.querySelector("caption .count");
      if (count) count.textContent = String(n);
      var u = new URL(location.href);
      if (q) u.searchParams.set("q", input.value.trim()); else u.searchParams.delete("q");
      history.replaceState(null, "", u.pathname + u.search);
    });
  });
}

function enhance(root) {
  autosubmit(root);
  sortable(root);
  filterable(root);
}

// Live: when the ledger records an event, the page reads its data again
// (the same address, so the same view) and replaces its main part.
function live() {
  var src = document.body.dataset.live;
  if (!src || !window.EventSource) return;
  var note = document.querySelector(".live-note");
  var es = new EventSource(src);
  var busy = false;
  es.addEventListener("seq", function (ev) {
    if (ev.data === document.body.dataset.seq || busy) return;
    busy = true;
    var seq = ev.data;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) { if (!res.ok) throw new Error(res.status); return res.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (!fresh || !main) return;
        main.innerHTML = fresh.innerHTML;
        document.title = doc.title;
        document.body.dataset.seq = doc.body.dataset.seq || seq;
        document.body.dataset.updates = String(Number(document.body.dataset.updates || "0") + 1);
        enhance(main);
        if (note) note.textContent = "Updated: the ledger recorded new events (sequence " + document.body.dataset.seq + ").";
      })
      .catch(function (err) { if (note) note.textContent = "Could not update the page: " + err.message; })
      .then(function () { busy = false; });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  enhance(document);
  live();
});
