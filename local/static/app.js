// The reports dashboard. No framework, no build step, nothing from another origin.
// Every value that comes from the data is inserted with textContent or an SVG attribute, never as
// HTML: item names may carry markup or script.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

// Relative URLs, so the dashboard also works below an API Gateway stage path such as /prod/.
async function api(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const url = path + (query.toString() ? "?" + query.toString() : "");
  const response = await fetch(url, { headers: { accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    let message = "HTTP " + response.status;
    if (body && typeof body.message === "string") message = body.message;
    else if (body && Array.isArray(body.detail)) message = "invalid " + body.detail.map((d) => (d.loc || []).join(".")).join(", ");
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function setStatus(id, text, isError) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.classList.toggle("error", Boolean(isError));
}

function path(...segments) {
  return segments.map((s) => encodeURIComponent(s)).join("/");
}

// ------------------------------------------------------------------ restock list

const RESTOCK_PAGE = 1000;

async function loadRestock() {
  const tbody = document.querySelector("#restock tbody");
  // The API answers in pages (at most 1,000 pairs each): follow the cursor to the end. A page that
  // fails still leaves the pages before it on screen, and a cursor seen twice stops the loop.
  const items = [];
  const seen = new Set();
  let failure = null;
  let cursor = null;
  do {
    try {
      const data = await api("restock", { limit: RESTOCK_PAGE, cursor: cursor });
      items.push(...data.items);
      cursor = data.next_cursor;
    } catch (error) {
      failure = error;
      break;
    }
    if (cursor && seen.has(cursor)) {
      failure = new Error("the server sent the same page twice");
      break;
    }
    seen.add(cursor);
  } while (cursor);
  tbody.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    tr.className = "below";
    cell(tr, item.warehouse);
    cell(tr, item.item_id);
    cell(tr, item.item_name);
    cell(tr, item.level, "num");
    cell(tr, item.threshold, "num");
    tr.addEventListener("click", () => showHistory(item.warehouse, item.item_id, item.threshold));
    tbody.appendChild(tr);
  }
  document.getElementById("restock-count").textContent = "(" + items.length + (failure ? "+" : "") + ")";
  if (failure) {
    const shown = items.length ? "Showing the first " + items.length + " pairs; " : "";
    setStatus("restock-status", shown + "could not load the restock list: " + failure.message, true);
  } else {
    setStatus("restock-status", items.length ? "" : "Nothing to restock.");
  }
  return items;
}

// ------------------------------------------------------------------ warehouse items

let warehouseCursor = null;

async function loadWarehouses() {
  const picker = document.getElementById("warehouse-picker");
  try {
    const data = await api("warehouses");
    picker.replaceChildren();
    for (const name of data.warehouses) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      picker.appendChild(option);
    }
    if (data.warehouses.length) await loadWarehouseItems(false);
    else setStatus("warehouse-status", "No warehouse holds stock yet.");
  } catch (error) {
    setStatus("warehouse-status", "Could not load the warehouses: " + error.message, true);
  }
}

function warehouseParams() {
  const minLevel = document.getElementById("min-level").value.trim();
  return { min_level: minLevel, limit: 200 };
}

async function loadWarehouseItems(append) {
  const name = document.getElementById("warehouse-picker").value;
  const tbody = document.querySelector("#warehouse-items tbody");
  const more = document.getElementById("warehouse-more");
  if (!append) {
    warehouseCursor = null;
    tbody.replaceChildren();
  }
  const params = warehouseParams();
  const csv = new URLSearchParams({ format: "csv", limit: "1000" });
  if (params.min_level !== "") csv.set("min_level", params.min_level);
  document.getElementById("warehouse-csv").href = path("warehouses", name, "items") + "?" + csv.toString();
  try {
    const data = await api(path("warehouses", name, "items"), { ...params, cursor: warehouseCursor });
    for (const item of data.items) {
      const tr = document.createElement("tr");
      if (item.below) tr.className = "below";
      cell(tr, item.item_id);
      cell(tr, item.item_name);
      cell(tr, item.level, "num");
      cell(tr, item.threshold, "num");
      cell(tr, item.below ? "yes" : "");
      tr.addEventListener("click", () => showHistory(item.warehouse, item.item_id, item.threshold));
      tbody.appendChild(tr);
    }
    warehouseCursor = data.next_cursor;
    more.hidden = !warehouseCursor;
    const count = tbody.children.length;
    setStatus("warehouse-status", count ? count + " item(s)" + (warehouseCursor ? ", more available" : "") : "No items.");
  } catch (error) {
    more.hidden = true;
    setStatus("warehouse-status", error.message, true);
  }
}

// ------------------------------------------------------------------ item search

async function searchItem(itemId) {
  const result = document.getElementById("item-result");
  try {
    const data = await api(path("items", itemId));
    document.getElementById("item-name").textContent = data.item_name + " (" + data.item_id + ")";
    document.getElementById("item-total").textContent = String(data.total);
    const tbody = document.querySelector("#item-split tbody");
    tbody.replaceChildren();
    for (const split of data.warehouses) {
      const tr = document.createElement("tr");
      cell(tr, split.warehouse);
      cell(tr, split.level, "num");
      tr.addEventListener("click", () => showHistory(split.warehouse, data.item_id));
      tbody.appendChild(tr);
    }
    result.hidden = false;
    setStatus("item-status", "");
  } catch (error) {
    result.hidden = true;
    setStatus("item-status", error.message, true);
  }
}

// ------------------------------------------------------------------ history chart (inline SVG)

function svg(name, attributes, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  if (parent) parent.appendChild(el);
  return el;
}

function niceTicks(min, max, count) {
  if (min === max) return [min];
  const step0 = (max - min) / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= step0) || step0;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  return ticks;
}

function drawChart(data, threshold) {
  const chart = document.getElementById("chart");
  chart.replaceChildren();
  const width = 720, height = 300, left = 56, right = 16, top = 16, bottom = 36;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" }, chart);
  const title = svg("title", {}, root);
  title.textContent = "Level of " + data.item_id + " in " + data.warehouse + " over time";
  const times = data.points.map((p) => Date.parse(p.ts));
  const levels = data.points.map((p) => p.level);
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t0 === t1) { t0 -= 3600e3; t1 += 3600e3; }
  let y0 = Math.min(0, ...levels), y1 = Math.max(...levels, threshold || 0);
  if (y0 === y1) y1 = y0 + 1;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - (v - y0) / (y1 - y0)) * (height - top - bottom);
  for (const tick of niceTicks(y0, y1, 5)) {
    svg("line", { x1: left, x2: width - right, y1: y(tick), y2: y(tick), class: "grid" }, root);
    const label = svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, root);
    label.textContent = String(tick);
  }
  svg("line", { x1: left, x2: left, y1: top, y2: height - bottom, class: "axis" }, root);
  svg("line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: "axis" }, root);
  for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
    const label = svg("text", { x: x(t), y: height - bottom + 16, "text-anchor": anchor }, root);
    label.textContent = new Date(t).toISOString().slice(0, 16).replace("T", " ") + "Z";
  }
  if (typeof threshold === "number") {
    svg("line", { x1: left, x2: width - right, y1: y(threshold), y2: y(threshold), class: "threshold" }, root);
  }
  // A step line: the level holds until the next transaction changes it.
  let d = "";
  data.points.forEach((p, i) => {
    const px = x(times[i]).toFixed(1), py = y(p.level).toFixed(1);
    if (i === 0) d = `M${px},${py}`;
    else d += `H${px}V${py}`;
  });
  svg("path", { d, class: "series" }, root);
  // A dot per transaction (a pair with one transaction has no line at all), or only the newest one when
  // there are too many to tell apart.
  const shown = data.points.length <= 200 ? data.points.map((_, i) => i) : [data.points.length - 1];
  for (const i of shown) {
    svg("circle", { cx: x(times[i]).toFixed(1), cy: y(levels[i]).toFixed(1), r: 3, class: "point" }, root);
  }
}

// threshold is known when the pair was picked from a report row; it is drawn as a dashed line.
async function showHistory(warehouse, itemId, threshold) {
  document.getElementById("history-warehouse").value = warehouse;
  document.getElementById("history-item").value = itemId;
  setStatus("history-status", "Loading…");
  try {
    const data = await api("history", { warehouse, item_id: itemId });
    drawChart(data, threshold);
    const last = data.points[data.points.length - 1];
    setStatus(
      "history-status",
      data.points.length + " transaction(s)" + (data.truncated ? " (newest shown)" : "") + "; level now " + last.level,
    );
  } catch (error) {
    document.getElementById("chart").replaceChildren();
    setStatus("history-status", error.message, true);
  }
}

// ------------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", async () => {
  // A first visit's ?token= has set the session cookie: keep the secret out of the address bar, the
  // browser's history and bookmarks.
  const here = new URL(window.location.href);
  if (here.searchParams.has("token")) {
    here.searchParams.delete("token");
    history.replaceState(null, "", here.pathname + here.search + here.hash);
  }
  document.getElementById("warehouse-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadWarehouseItems(false);
  });
  document.getElementById("warehouse-picker").addEventListener("change", () => loadWarehouseItems(false));
  document.getElementById("warehouse-more").addEventListener("click", () => loadWarehouseItems(true));
  document.getElementById("item-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const itemId = document.getElementById("item-id").value.trim();
    if (itemId) searchItem(itemId);
  });
  document.getElementById("history-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const warehouse = document.getElementById("history-warehouse").value.trim();
    const itemId = document.getElementById("history-item").value.trim();
    if (warehouse && itemId) showHistory(warehouse, itemId);
  });
  const [restock] = await Promise.all([loadRestock(), loadWarehouses()]);
  // Show something useful at once: the history of the first pair that needs restocking.
  if (restock.length) await showHistory(restock[0].warehouse, restock[0].item_id, restock[0].threshold);
  document.body.dataset.ready = "true";
});
