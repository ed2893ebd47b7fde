// On a phone, a wide table is read row by row: each cell is labelled with its column's
// heading (docs/assets/extra.css lays the rows of a table of 3 or more columns out as cards
// below 60em).
function labelTableCells() {
  document.querySelectorAll(".md-typeset table:not([class])").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    if (heads.length < 3) return; // two columns fit a phone as they are
    table.setAttribute("data-stack", "");
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (heads[i]) cell.setAttribute("data-label", heads[i]);
      });
    });
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(labelTableCells);
} else {
  document.addEventListener("DOMContentLoaded", labelTableCells);
}
