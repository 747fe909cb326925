// The investigator console: a thin client of the query API (every call carries the API key).
"use strict";

const I18N = {
  zh: {title: "医保基金欺诈团伙研判", signin: "登录", signout: "退出", apikey: "API 密钥", queue: "线索队列",
       pattern: "类型", minscore: "最低可疑度", disposition: "处置", search: "搜索", back: "← 返回队列",
       timeline: "结算时间线", evidence: "证据", members: "成员", actions: "处置与移送", save: "保存",
       export: "下载移送材料", id: "编号", score: "可疑度", persons: "人数", fund: "统筹金额", regions: "区划",
       first: "首次", last: "最近", role: "角色", claims: "结算笔数", type: "类型", name: "名称",
       expand: "展开邻居", badkey: "密钥无效或已撤销", lang: "English", new: "新", from: "从", to: "到",
       paths: "查找关联路径", tip: "提交举报线索", tipnote: "线索说明", tipsaved: "线索已登记",
       nopath: "未找到路径", tips: "举报线索"},
  en: {title: "Medical-insurance fraud rings", signin: "Sign in", signout: "Sign out", apikey: "API key",
       queue: "Ring queue", pattern: "Pattern", minscore: "Min score", disposition: "Disposition", search: "Search",
       back: "← Back to the queue", timeline: "Claims timeline", evidence: "Evidence", members: "Members",
       actions: "Disposition and referral", save: "Save", export: "Download referral package", id: "Id",
       score: "Score", persons: "Persons", fund: "Fund", regions: "Regions", first: "First seen", last: "Last seen",
       role: "Role", claims: "Claims", type: "Type", name: "Name", expand: "Expand neighbours",
       badkey: "Unknown or revoked key", lang: "中文", new: "new", from: "From", to: "To", paths: "Find paths",
       tip: "Submit a tip", tipnote: "Tip note", tipsaved: "Tip recorded", nopath: "No path found",
       tips: "Tips"},
};
let lang = localStorage.getItem("lang") || "zh";
let key = null;  // in memory only, never web storage: nothing in another tab or a later script reads it; reloads ask again
let vocab = null;  // GET /vocab: patterns, finding kinds, node types (with colour and shape), member roles, dispositions, formats
let state = {page: 1, sort: "priority", order: "desc"};
let cy = null;
const $ = (id) => document.getElementById(id);
const t = (k) => (Object.hasOwn(I18N[lang], k) ? I18N[lang][k] : k);
// The label of a vocabulary word (`list` one of /vocab's lists) in the current language; its id if unknown.
const term = (list, id) => { const found = vocab[list].find((word) => word.id === id); return found ? found[lang] : id; };
const typeName = (type) => term("node_types", type);

// Every piece of the page made from API data is built here: values become attributes or text
// nodes, never markup, so a name like `<img onerror=…>` is shown as the characters it is.
function fill(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}
const el = (tag, attributes = {}, ...children) => fill(document.createElement(tag), attributes, children);
const svgEl = (tag, attributes = {}, ...children) =>
  fill(document.createElementNS("http://www.w3.org/2000/svg", tag), attributes, children);
const ringHref = (id) => `#/ring/${encodeURIComponent(id)}`;

function report(error) { $("error").textContent = error.message; }
const guarded = (action) => (...args) => action(...args).catch(report);

async function api(path, options = {}) {
  const response = await fetch(path, {...options, headers: {"X-API-Key": key, ...(options.headers || {})}});
  if (response.status === 401) { signOut(); throw new Error(t("badkey")); }
  if (!response.ok) { throw new Error((await response.json()).detail); }
  return response;
}

function translate() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  $("lang").textContent = t("lang");
}

function show(section) {
  for (const id of ["signin", "queue", "ring"]) $(id).hidden = id !== section;
}

function signOut() {
  key = null;
  $("who").textContent = "";
  $("signout").hidden = true;
  show("signin");
}

// Choices drawn from the vocabulary, labelled in the current language; what was chosen stays chosen.
function fillChoices() {
  const choose = (id, words, blank) => {
    const chosen = $(id).value;
    $(id).replaceChildren(...(blank ? [el("option", {value: ""})] : []),
                          ...words.map((word) => el("option", {value: word.id}, word[lang])));
    if (chosen) $(id).value = chosen;
  };
  choose("f-pattern", vocab.patterns, true);
  choose("f-status", vocab.dispositions, true);
  choose("d-status", vocab.dispositions.filter((word) => word.id !== "open"), false);
  choose("x-format", vocab.export_formats, false);
}

async function signIn(candidate) {
  key = candidate;
  const me = await (await api("/me")).json();
  vocab = await (await api("/vocab")).json();
  fillChoices();
  $("who").textContent = `${me.name} · ${me.role}`;
  $("who").dataset.role = me.role;
  $("signout").hidden = false;
  route();
}

// ---- queue ---------------------------------------------------------------------------------

const COLUMNS = [["id", "id"], ["pattern", "pattern"], ["score", "score"], ["persons", "persons"],
                 ["fund_amount", "fund"], ["regions", "regions"], ["first_seen", "first"], ["last_seen", "last"],
                 ["disposition", "disposition"]];

async function loadQueue() {
  show("queue");
  const params = new URLSearchParams({page: state.page, size: 20, sort: state.sort, order: state.order});
  if ($("f-pattern").value) params.append("pattern", $("f-pattern").value);
  if (Number($("f-score").value) > 0) params.append("min_score", $("f-score").value);
  if ($("f-status").value) params.append("disposition", $("f-status").value);
  if ($("f-region").value.trim()) params.append("region", $("f-region").value.trim());
  const page = await (await api(`/rings?${params}`)).json();
  const seen = new Set(JSON.parse(localStorage.getItem("seen") || "[]"));
  $("rings").tHead.rows[0].replaceChildren(...COLUMNS.map(([field, label]) =>
    el("th", {"data-sort": field}, t(label) + (state.sort === field ? (state.order === "desc" ? " ▼" : " ▲") : ""))));
  $("rings").tBodies[0].replaceChildren(...page.items.map((r) =>
    el("tr", {class: seen.size && !seen.has(r.id) ? "ring-row new" : "ring-row", "data-id": r.id},
       ...[r.id, term("patterns", r.pattern), r.score.toFixed(3), `${r.persons} / ${r.members}`,
           r.fund_amount.toLocaleString(), r.regions.join(", "), r.first_seen || "", r.last_seen || "",
           term("dispositions", r.disposition.status)]
         .map((cell) => el("td", {}, cell)))));
  localStorage.setItem("seen", JSON.stringify([...new Set([...seen, ...page.items.map((r) => r.id)])]));
  $("page").textContent = `${page.page} / ${Math.max(page.pages, 1)} (${page.total})`;
  $("prev").disabled = page.page <= 1;
  $("next").disabled = page.page >= page.pages;
}

async function runSearch() {
  const q = $("q").value.trim();
  if (!q) { $("search-hits").replaceChildren(); return; }
  const found = await (await api(`/search?${new URLSearchParams({q})}`)).json();
  $("search-hits").replaceChildren(...found.hits.map((h) => {
    const link = el("a", {href: "#"}, h.id);
    link.addEventListener("click", (event) => { event.preventDefault(); showEntity(h.type, h.id, false); });
    return el("div", {}, `${typeName(h.type)} `, link, ` ${h.label || ""} (${h.matched})`);
  }));
}

// ---- ring ----------------------------------------------------------------------------------

function edgeLabel(e) { return lang === "zh" ? e.label_zh : e.label; }

function elementsOf(graph) {
  return [
    ...graph.nodes.map((n) => ({group: "nodes", data: {id: n.id, label: n.label, type: n.type, entity: n.entity_id,
                                                      member: n.member !== false}})),
    ...graph.edges.map((e) => ({group: "edges", data: {id: `${e.source}|${e.type}|${e.target}`, source: e.source,
                                                      target: e.target, label: edgeLabel(e)}})),
  ];
}

// A force layout reads best, but its cost grows with the square of the nodes: above 150 nodes
// (2 s for 300 in headless Chromium here) the console rings nodes by degree instead (24 ms).
function layoutFor(nodes) {
  return nodes > 150 ? {name: "concentric", concentric: (node) => node.degree(), levelWidth: () => 3, animate: false}
                     : {name: "cose", animate: false, randomize: false, numIter: 600, idealEdgeLength: () => 60,
                        nodeRepulsion: () => 8000};
}

function drawGraph(graph) {
  const started = performance.now();
  cy = cytoscape({
    container: $("cy"),
    elements: elementsOf(graph),
    style: [
      {selector: "node", style: {"label": "data(label)", "font-size": 9, "width": 18, "height": 18}},
      ...vocab.node_types.map((type) =>
        ({selector: `node[type = "${type.id}"]`, style: {"background-color": type.colour, "shape": type.shape}})),
      {selector: "node[!member]", style: {"opacity": 0.6, "width": 12, "height": 12}},
      // Labels on every edge of a busy ring pile up at the hubs: past 60 edges, only the
      // edges of the node under the pointer (or selected) are labelled.
      {selector: "edge", style: {"label": graph.edges.length <= 60 ? "data(label)" : "", "font-size": 7,
                                 "width": 1.2, "line-color": "#bbb", "curve-style": "bezier",
                                 "text-rotation": "autorotate"}},
      {selector: "edge.near, edge:selected", style: {"label": "data(label)", "line-color": "#555"}},
      {selector: ":selected", style: {"border-width": 3, "border-color": "#000"}},
    ],
    layout: layoutFor(graph.nodes.length),
  });
  cy.on("tap", "node", (event) => showEntity(event.target.data("type"), event.target.data("entity"), true));
  cy.on("mouseover", "node", (event) => event.target.connectedEdges().addClass("near"));
  cy.on("mouseout", "node", (event) => event.target.connectedEdges().removeClass("near"));
  window.graphDrawnMs = performance.now() - started;
  $("legend").replaceChildren(...vocab.node_types.map((type) => {
    const swatch = el("i");
    swatch.style.background = type.colour;  // set through the DOM: the CSP refuses style="…" attributes
    return el("span", {}, swatch, type[lang]);
  }));
}

function drawTimeline(days) {
  const svg = $("timeline");
  const width = 900;
  svg.setAttribute("width", width);
  if (!days.length) { svg.replaceChildren(); return; }
  const first = Date.parse(days[0].day);
  const span = Math.max(Date.parse(days[days.length - 1].day) - first, 86400000);
  const most = Math.max(...days.map((d) => d.claims));
  svg.replaceChildren(...days.map((d) => {
    const x = 10 + (Date.parse(d.day) - first) / span * (width - 20);
    const h = 100 * d.claims / most;
    return svgEl("rect", {x: x.toFixed(1), y: (105 - h).toFixed(1), width: 3, height: h.toFixed(1), fill: "#4e79a7"},
                 svgEl("title", {}, `${d.day}: ${d.claims} · ${d.fund_amount.toLocaleString()}`));
  }), svgEl("text", {x: 10, y: 118, "font-size": 10}, days[0].day),
      svgEl("text", {x: width - 70, y: 118, "font-size": 10}, days[days.length - 1].day));
}

function drawCasework(casework) {
  const disposition = casework.disposition;
  $("d-current").textContent = term("dispositions", disposition.status) +
    (disposition.note ? ` — ${disposition.note}` : "");
  $("tips").replaceChildren(...casework.tips.map((tip) =>
    el("li", {}, `${tip.at} ${typeName(tip.type)} ${tip.id}${tip.note ? ` — ${tip.note}` : ""}`)));
}

async function refreshCasework() {
  const ring = await (await api(`/rings/${encodeURIComponent($("disposition-form").dataset.ring)}`)).json();
  drawCasework(ring.casework);
}

async function loadRing(id) {
  show("ring");
  // Evidence sentences come in the console's language (the API renders them from the masked facts).
  const ring = await (await api(`/rings/${encodeURIComponent(id)}?${new URLSearchParams({lang})}`)).json();
  $("ring-title").textContent = `${ring.id} · ${term("patterns", ring.pattern)} · ${ring.score}`;
  $("ring-summary").textContent = `${t("persons")} ${ring.persons} · ${t("claims")} ${ring.claims} · ${t("fund")} ` +
    `${ring.fund_amount.toLocaleString()} · ${ring.first_seen} – ${ring.last_seen} · ${ring.regions.join(", ")}`;
  drawGraph(ring.graph);
  drawTimeline(ring.timeline);
  $("evidence").replaceChildren(...ring.evidence.map((e) => el("li", {}, el("b", {title: e.kind}, term("finding_kinds", e.kind)), ` (${e.strength}) ${e.detail}`)));
  $("members").tHead.rows[0].replaceChildren(...["type", "id", "name", "role", "claims", "fund"].map((c) => el("th", {}, t(c))));
  $("members").tBodies[0].replaceChildren(...ring.members.map((m) =>
    el("tr", {}, ...[typeName(m.type), m.id, m.label || "", term("member_roles", m.role), m.claims,
                     m.fund_amount.toLocaleString()]
      .map((cell) => el("td", {}, cell)))));
  $("disposition-form").dataset.ring = ring.id;
  drawCasework(ring.casework);
  $("node-info").replaceChildren();
}

async function showEntity(type, id, inRing) {
  const info = $("node-info");
  try {
    const profile = await (await api(`/entities/${type}/${encodeURIComponent(id)}`)).json();
    const note = el("input", {id: "tip-note", placeholder: t("tipnote")});
    const tip = el("button", {id: "tip", type: "button"}, t("tip"));
    const tipResult = el("span", {id: "tip-result"});
    tip.addEventListener("click", guarded(async () => {
      const body = {client_key: crypto.randomUUID(), type, id, note: note.value};
      await api("/tips", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      tipResult.textContent = t("tipsaved");
      if (inRing) await refreshCasework();
    }));
    let expandButton = null;
    if (inRing) {
      expandButton = el("button", {id: "expand", type: "button"}, t("expand"));
      expandButton.addEventListener("click", guarded(() => expand(type, id)));
    }
    info.replaceChildren(
      el("h4", {}, `${typeName(type)} ${profile.id}`),
      ...Object.entries(profile.attributes).filter(([, v]) => v !== null).map(([k, v]) => el("div", {}, `${k}: ${v}`)),
      el("div", {}, `${t("claims")}: ${profile.claims.claims} · ${profile.claims.fund_amount.toLocaleString()}`),
      el("div", {}, ...profile.flags.map((f) => el("div", {title: f.kind}, `⚑ ${f[lang]}${f.since ? ` ${f.since}` : ""}`))),
      el("div", {}, ...profile.rings.flatMap((r) => [el("a", {href: ringHref(r.id)}, r.id), " "])),
      expandButton,
      el("p", {}, note, " ", tip, " ", tipResult));
  } catch (error) {
    info.textContent = error.message;
  }
  if (!inRing) { show("ring"); }
}

async function findPaths() {
  const params = new URLSearchParams({from: $("p-from").value.trim(), to: $("p-to").value.trim()});
  const found = await (await api(`/paths?${params}`)).json();
  show("ring");
  $("ring-title").textContent = `${found.from} → ${found.to}`;
  $("ring-summary").textContent = found.paths.length ? found.paths.map((p) => p.join(" → ")).join(" | ") : t("nopath");
  drawGraph(found);
  for (const id of ["evidence", "timeline", "tips"]) $(id).replaceChildren();
  $("members").tBodies[0].replaceChildren();
}

async function expand(type, id) {
  const network = await (await api(`/entities/${type}/${encodeURIComponent(id)}/network?hops=1&limit=50`)).json();
  const have = new Set(cy.elements().map((element) => element.id()));
  cy.add(elementsOf({nodes: network.nodes.map((n) => ({...n, member: false})), edges: network.edges})
    .filter((element) => !have.has(element.data.id)));
  cy.layout(layoutFor(cy.nodes().length)).run();
}

// ---- wiring --------------------------------------------------------------------------------

function route() {
  $("error").textContent = "";
  if (!key) { show("signin"); return; }
  const ring = location.hash.match(/^#\/ring\/(.+)$/);
  guarded(async () => (ring ? loadRing(decodeURIComponent(ring[1])) : loadQueue()))();
}

window.addEventListener("hashchange", route);
$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("lang", lang);
  translate();
  if (vocab) fillChoices();
  route();
});
$("signout").addEventListener("click", signOut);
$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  signIn($("key").value.trim()).catch((error) => { $("signin-error").textContent = error.message; });
});
$("rings").addEventListener("click", (event) => {
  const th = event.target.closest("th");
  if (th) {
    state.order = state.sort === th.dataset.sort && state.order === "desc" ? "asc" : "desc";
    state.sort = th.dataset.sort === "disposition" || th.dataset.sort === "regions" ? "priority" : th.dataset.sort;
    guarded(loadQueue)();
    return;
  }
  const row = event.target.closest("tr[data-id]");
  if (row) location.hash = ringHref(row.dataset.id);
});
$("prev").addEventListener("click", () => { state.page -= 1; guarded(loadQueue)(); });
$("next").addEventListener("click", () => { state.page += 1; guarded(loadQueue)(); });
for (const id of ["f-pattern", "f-score", "f-status", "f-region"]) {
  $(id).addEventListener("change", () => { state.page = 1; guarded(loadQueue)(); });
}
$("go-search").addEventListener("click", guarded(runSearch));
$("go-paths").addEventListener("click", guarded(findPaths));
$("back").addEventListener("click", (event) => {
  event.preventDefault();
  // A profile from a search or a path search is shown without leaving "#/": no hashchange would come.
  if (location.hash === "#/") route(); else location.hash = "#/";
});
$("disposition-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  await api(`/rings/${encodeURIComponent(event.target.dataset.ring)}/disposition`, {method: "PUT",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({status: $("d-status").value, note: $("d-note").value})});
  await refreshCasework();
}));
$("export").addEventListener("click", guarded(async () => {
  const id = $("disposition-form").dataset.ring;
  const format = $("x-format").value;
  const blob = await (await api(`/rings/${encodeURIComponent(id)}/export?format=${format}`)).blob();
  const link = el("a", {href: URL.createObjectURL(blob), download: `${id}-${format}.zip`});
  link.click();
}));

translate();
show("signin");
