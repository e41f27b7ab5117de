/* Progressive enhancement only: the report is complete without this script. It adds sortable column
   headers (a button in each header; aria-sort on the sorted header only) and a filter box above long
   tables, and opens every <details> before printing. No data is embedded here. */
(function () {
  "use strict";
  var ICON = { none: "\u2195", ascending: "\u25B2", descending: "\u25BC" };

  function key(cell) {
    var v = cell ? cell.getAttribute("data-sort") : null;
    if (v !== null) { return { n: parseFloat(v), t: "" }; }
    return { n: NaN, t: cell ? cell.textContent.trim().toLowerCase() : "" };
  }

  function compare(a, b) {
    var an = isNaN(a.n), bn = isNaN(b.n);
    if (!an && !bn) { return a.n - b.n; }
    if (an !== bn) { return an ? 1 : -1; }
    return a.t < b.t ? -1 : a.t > b.t ? 1 : 0;
  }

  function sortBy(table, index, th) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
      var icon = h.querySelector(".sort-icon");
      if (icon) { icon.textContent = ICON.none; }
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    th.querySelector(".sort-icon").textContent = ascending ? ICON.ascending : ICON.descending;
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, i: i, k: key(row.cells[index]) };
    });
    rows.sort(function (a, b) {
      var c = compare(a.k, b.k);
      return (ascending ? c : -c) || a.i - b.i;
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (r) { fragment.appendChild(r.row); });
    body.appendChild(fragment);
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length || table.tBodies[0].rows.length < 2) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      var icon = document.createElement("span");
      icon.className = "sort-icon";
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = ICON.none;
      button.appendChild(icon);
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, index, th); });
    });
  }

  function makeFilterable(table) {
    var wrap = table.parentNode;
    var box = document.createElement("div");
    box.className = "filter";
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Filter rows\u2026";
    input.setAttribute("aria-label", "Filter: " + (table.caption ? table.caption.textContent : "table"));
    input.setAttribute("aria-controls", table.id);
    var count = document.createElement("output");
    count.setAttribute("aria-live", "polite");
    box.appendChild(input);
    box.appendChild(count);
    wrap.parentNode.insertBefore(box, wrap);
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase(), shown = 0, rows = table.tBodies[0].rows;
      Array.prototype.forEach.call(rows, function (row) {
        var hit = !q || row.textContent.toLowerCase().indexOf(q) !== -1;
        row.hidden = !hit;
        if (hit) { shown += 1; }
      });
      count.textContent = q ? shown + " of " + rows.length + " rows" : "";
    });
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("table.filterable").forEach(makeFilterable);
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
}());
