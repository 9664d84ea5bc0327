// The experiment table: a click on a header sorts by that column (numbers by their data-v value),
// the menus and the search box filter the rows. Errors are kept for the browser test to read.
"use strict";
window.reportErrors = [];
window.addEventListener("error", (e) => window.reportErrors.push(String(e.message)));
(function () {
  const table = document.getElementById("results");
  if (!table) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const menus = Array.from(document.querySelectorAll("[data-filter]"));
  const shown = document.querySelector(".filters .shown");
  function key(row, col) {
    const cell = row.cells[col];
    const v = cell.dataset.v;
    if (v === undefined || v === "") return [1, ""];  // empty cells last
    const n = Number(v);
    return Number.isNaN(n) ? [0, v.toLowerCase()] : [0, n];
  }
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
    th.addEventListener("click", () => {
      const desc = th.classList.contains("asc");
      table.tHead.querySelectorAll("th").forEach((h) => h.classList.remove("asc", "desc"));
      th.classList.add(desc ? "desc" : "asc");
      const sorted = rows.slice().sort((a, b) => {
        const [ea, va] = key(a, col), [eb, vb] = key(b, col);
        if (ea !== eb) return ea - eb;
        const c = va < vb ? -1 : va > vb ? 1 : 0;
        return desc ? -c : c;
      });
      sorted.forEach((r) => body.appendChild(r));
    });
  });
  function filter() {
    let n = 0;
    rows.forEach((row) => {
      const ok = menus.every((m) => {
        if (!m.value) return true;
        if (m.dataset.filter === "text") return row.cells[0].textContent.toLowerCase().includes(m.value.toLowerCase());
        return row.dataset[m.dataset.filter] === m.value;
      });
      row.hidden = !ok;
      if (ok) n += 1;
    });
    if (shown) shown.textContent = `${n} of ${rows.length} results shown`;
  }
  menus.forEach((m) => m.addEventListener("input", filter));
  filter();
})();
