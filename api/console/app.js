// The investigator console: a thin client of the query API (every call carries the API key).
"use strict";

const I18N = {
  zh: {badlink: "链接无效", title: "医保基金欺诈团伙研判", signin: "登录", signout: "退出", apikey: "API 密钥", queue: "线索队列",
       pattern: "类型", minscore: "最低可疑度", disposition: "处置", search: "搜索", back: "← 返回队列",
       timeline: "结算时间线", evidence: "证据", members: "成员", actions: "处置与移送", save: "保存",
       export: "下载移送材料", id: "编号", score: "可疑度", persons: "人数", fund: "统筹金额", regions: "区划",
       first: "首次", last: "最近", role: "角色", claims: "结算笔数", type: "类型",
       expand: "展开邻居", badkey: "密钥无效或已撤销", lang: "English", new: "新", from: "从", to: "到",
       paths: "查找关联路径", tip: "提交举报线索", tipnote: "线索说明", tipsaved: "线索已登记",
       nopath: "未找到路径", tips: "举报线索", risk: "机构风险排名", report: "月度统计", showcards: "显示医保卡/电子凭证",
       asof: "截至", all: "全部", rings: "涉及团伙", neighbours: "关联实体", month: "月份", xlsx: "下载 Excel",
       pdf: "下载 PDF", reportrings: "本月有变动的团伙", rank: "名次", riskscore: "风险分",
       suspicion: "可疑度", impact: "基金影响", peer: "对照组", reasons: "理由", page: "实体页", events: "本月事项", notyet: "此日前尚无结算",
       wholeperiod: "（全期证据，含此日后的结算）", webhooks: "案件系统推送", newhook: "新增订阅", url: "接收地址",
       secret: "签名密钥（至少 16 位）", subscribe: "订阅", hookevents: "事件", secrethint: "密钥尾号", created: "创建时间",
       createdby: "创建人", deliveries: "投递记录", delete: "删除", state: "状态", attempts: "尝试次数",
       lastanswer: "最近一次结果", nextattempt: "下次重试", confirmdelete: "停止向此地址推送？尚未送达的通知将取消。",
       http403: "无权执行此操作", http404: "未找到", http409: "与已有记录冲突", http413: "文件过大", http422: "输入有误",
       http429: "请求过于频繁，请稍后再试", http503: "服务暂不可用", httperror: "请求失败"},
  en: {badlink: "Invalid link", title: "Medical-insurance fraud rings", signin: "Sign in", signout: "Sign out", apikey: "API key",
       queue: "Ring queue", pattern: "Pattern", minscore: "Min score", disposition: "Disposition", search: "Search",
       back: "← Back to the queue", timeline: "Claims timeline", evidence: "Evidence", members: "Members",
       actions: "Disposition and referral", save: "Save", export: "Download referral package", id: "Id",
       score: "Score", persons: "Persons", fund: "Fund", regions: "Regions", first: "First seen", last: "Last seen",
       role: "Role", claims: "Claims", type: "Type", expand: "Expand neighbours",
       badkey: "Unknown or revoked key", lang: "中文", new: "new", from: "From", to: "To", paths: "Find paths",
       tip: "Submit a tip", tipnote: "Tip note", tipsaved: "Tip recorded", nopath: "No path found",
       tips: "Tips", risk: "Institution risk", report: "Monthly report", showcards: "Show cards / e-vouchers",
       asof: "As of", all: "all", rings: "Rings", neighbours: "Linked entities", month: "Month", xlsx: "Download Excel",
       pdf: "Download PDF", reportrings: "Rings with events this month", rank: "Rank",
       riskscore: "Risk score", suspicion: "Suspicion", impact: "Fund impact", peer: "Peer group", reasons: "Reasons",
       page: "Entity page",
       events: "Events this month", notyet: "No claims by this day",
       wholeperiod: "(finding over the whole period, later claims included)", webhooks: "Case-system webhooks",
       newhook: "New subscription", url: "URL", secret: "Signing secret (16 characters or more)", subscribe: "Subscribe",
       hookevents: "Events", secrethint: "Secret ends", created: "Created", createdby: "Created by",
       deliveries: "Deliveries", delete: "Delete", state: "State", attempts: "Attempts", lastanswer: "Last result",
       nextattempt: "Next retry", confirmdelete: "Stop posting to this URL? Deliveries not yet made are cancelled.",
       http403: "Not allowed", http404: "Not found", http409: "Conflicts with a record", http413: "Too large",
       http422: "Invalid input", http429: "Too many requests, try again later", http503: "Service unavailable",
       httperror: "Request failed"},
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
// A coded value (`M`, `inpatient`) of an entity type's field as /vocab's values name it; other values as they are.
const valueName = (type, field, value) => {
  const found = (vocab.values[`${type}.${field}`] || []).find((word) => word.id === value);
  return found ? found[lang] : String(value);
};

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
// One segment of an API path from a value a link or the data gave: encoded, and never "." or ".." (which
// the browser resolves away) nor holding "/" (which the server decodes back into a separator), so that a
// crafted link cannot make a page call another endpoint with the user's key.
function seg(value) {
  const text = String(value);
  if (text === "." || text === ".." || text.includes("/")) throw new Error(`${t("badlink")}: ${text}`);
  return encodeURIComponent(text);
}
const ringHref = (id) => `#/ring/${encodeURIComponent(id)}`;
const entityHref = (type, id) => `#/entity/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
// A node key "type:id" (ids may hold ":"; types never do) as a link to its entity page.
function keyLink(key) {
  const [type, id] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
  return el("a", {href: entityHref(type, id), title: typeName(type)}, id);
}

function report(error) { $("error").textContent = error.message; }

// What went wrong, in the console's language first (the server's Chinese sentence, detail_zh, when
// the console speaks Chinese), the server's English words after it: a validation error's detail is
// a list of problems, each said as "field: message".
async function failure(response) {
  let body = {};
  try { body = await response.json(); } catch { body = {detail: response.statusText}; }
  if (body === null || typeof body !== "object") body = {detail: String(body)};
  let detail = body.detail || "";
  if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  const said = lang === "zh" && typeof body.detail_zh === "string" ? body.detail_zh
    : Object.hasOwn(I18N[lang], `http${response.status}`) ? t(`http${response.status}`) : t("httperror");
  return `${said}（${response.status}）${detail ? `: ${detail}` : ""}`;
}
const guarded = (action) => (...args) => action(...args).catch(report);

async function api(path, options = {}) {
  const response = await fetch(path, {...options, headers: {"X-API-Key": key, ...(options.headers || {})}});
  if (response.status === 401) { signOut(); throw new Error(t("badkey")); }
  if (!response.ok) { throw new Error(await failure(response)); }
  return response;
}

function translate() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  $("lang").textContent = t("lang");
}

function show(section) {
  for (const id of ["signin", "queue", "ring", "entity", "risk", "report", "webhooks"]) $(id).hidden = id !== section;
}

// The next person at this screen signs in on a blank console: no key to sign back in with one click, no
// table, typed secret or note of the one before, and the queue rather than the page they left open.
function signOut() {
  key = null;
  document.querySelectorAll("form").forEach((form) => form.reset());
  document.querySelectorAll("table tbody, table tfoot").forEach((rows) => rows.replaceChildren());
  $("deliveries-title").hidden = $("delivery-table").hidden = true;
  $("who").textContent = "";
  $("signout").hidden = true;
  $("nav").hidden = true;
  history.replaceState(null, "", "#/");
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
  $("nav").hidden = false;
  // The police liaison is refused the ranking and the report (403): no link to a page that cannot load.
  $("nav-risk").hidden = $("nav-report").hidden = me.role === "police_liaison";
  $("nav-webhooks").hidden = me.role !== "admin";  // subscriptions are the administrator's (403 to others)
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
    return el("div", {}, `${typeName(h.type)} `, link, ` ${h.label || ""} (${h.matched}) `,
              el("a", {href: entityHref(h.type, h.id)}, t("page")));
  }));
}

// ---- ring ----------------------------------------------------------------------------------

// The ring on screen: its id, the days of its whole timeline (the slider's stops), the day it is cut
// at (null: all of it), and the answer drawn, from which the picture is redrawn when cards are shown.
let ringState = {id: null, days: [], asOf: null, ring: null, into: new Map()};

function edgeLabel(e) { return lang === "zh" ? e.label_zh : e.label; }

// How near the centre a member is drawn, by its role: the organiser in the middle, what the members
// share (institutions, prescribers, phones, accounts) around it, then card users and lenders, the
// recruits on rings of at most RECRUITS_PER_RING around those, and cards (when shown) outside.
const ROLE_LEVEL = {broker: 100, agent: 100, institution: 90, prescriber: 90, shared_identifier: 90,
                    card_user: 80, card_lender: 80, beneficiary: 70, card: 40};
const RECRUITS_PER_RING = 40;
const NODE_SIZE = {100: 34, 90: 24};
const FONT_SIZE = {100: 14, 90: 12};
const MIN_FONT_PX = 8;  // a label drawn smaller than this is not read, only cluttering: it waits for a zoom-in

function levels(graph, members) {
  const roleOf = new Map(members.map((m) => [`${m.type}:${m.id}`, m.role]));
  const counts = {};
  const level = new Map();
  for (const n of graph.nodes) {
    // A node that is not a member links members (a shared phone or address): it sits with the shared.
    const base = ROLE_LEVEL[roleOf.get(n.id) || (n.member === false ? "shared_identifier" : "beneficiary")] || 70;
    const k = counts[base] = (counts[base] || 0) + 1;
    level.set(n.id, base < 90 ? base - Math.floor((k - 1) / RECRUITS_PER_RING) : base);
  }
  return level;
}

// Cards drawn into their holder (when the holder is in the picture): a card's edges become the
// holder's, so the picture shows who is linked to whom, not each person twice.
function folded(graph, showCards) {
  const present = new Set(graph.nodes.map((n) => n.id));
  const holder = new Map(graph.edges.filter((e) => e.type === "HELD_BY" && present.has(e.target))
    .map((e) => [e.source, e.target]));
  const into = (id) => (!showCards && holder.has(id) ? holder.get(id) : id);
  const edges = new Map();
  for (const e of graph.edges) {
    const [source, target] = [into(e.source), into(e.target)];
    if (source !== target) edges.set(`${source}|${e.type}|${target}`, {...e, source, target});
  }
  return {graph: {nodes: graph.nodes.filter((n) => into(n.id) === n.id), edges: [...edges.values()]},
          into: new Map(graph.nodes.map((n) => [n.id, into(n.id)]))};
}

function elementsOf(graph, level = new Map()) {
  return [
    ...graph.nodes.map((n) => {
      const rank = level.get(n.id) ?? 0;
      return {group: "nodes", data: {id: n.id, label: n.label, type: n.type, entity: n.entity_id, member: n.member !== false,
                                     level: rank, size: NODE_SIZE[rank] || 16, font: FONT_SIZE[rank] || 10}};
    }),
    ...graph.edges.map((e) => ({group: "edges", data: {id: `${e.source}|${e.type}|${e.target}`, source: e.source,
                                                      target: e.target, label: edgeLabel(e)}})),
  ];
}

// A ring's picture is laid out by role, whatever its size: each level of levels() on a circle around
// the one before, the organiser alone in the middle. The circles are as small as their nodes allow
// (Cytoscape's concentric layout spaces every circle for the biggest node, which shrinks a big ring
// to unreadable on fitting), the shared nodes spaced wider for their labels, every other circle of
// recruits turned half a step so that its labels fall between the next one's.
const SPACING = {shared: 110, recruit: 34};
const RING_GAP = 60;

function roleLayout(nodes) {
  const groups = new Map();
  for (const node of nodes.sort((a, b) => b.data("level") - a.data("level"))) {
    if (!groups.has(node.data("level"))) groups.set(node.data("level"), []);
    groups.get(node.data("level")).push(node);
  }
  const positions = {};
  let radius = null;
  [...groups.entries()].forEach(([level, group], ring) => {
    const needed = group.length * (level >= 90 ? SPACING.shared : SPACING.recruit) / (2 * Math.PI);
    radius = radius === null && group.length === 1 ? 0 : Math.max(radius === null ? 0 : radius + RING_GAP, needed);
    group.forEach((node, i) => {
      const angle = 2 * Math.PI * (i + (ring % 2) / 2) / group.length - Math.PI / 2;
      positions[node.id()] = {x: radius * Math.cos(angle), y: radius * Math.sin(angle)};
    });
  });
  return {name: "preset", positions: (node) => positions[node.id()], fit: true, padding: 16, animate: false};
}

// A force layout reads best, but its cost grows with the square of the nodes: above 150 nodes
// (2 s for 300 in headless Chromium here) the console rings nodes by degree instead (24 ms).
function layoutFor(nodes) {
  return nodes > 150 ? {name: "concentric", concentric: (node) => node.degree(), levelWidth: () => 3, animate: false}
                     : {name: "cose", animate: false, randomize: false, numIter: 600, idealEdgeLength: () => 60,
                        nodeRepulsion: () => 8000};
}

const overlaps = (a, b) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;

// Labels that would overlap another label or node at this zoom, or be too small to read, are hidden,
// the organiser's and the shared nodes' first; zooming in shows more. The node under the pointer and
// the selected one always show theirs.
function placeLabels() {
  if (!cy) return;
  cy.startBatch();
  cy.nodes().addClass("labelled");
  cy.endBatch();
  const nodes = cy.nodes().sort((a, b) => b.data("level") - a.data("level") || b.degree() - a.degree());
  const bodies = nodes.map((n) => n.renderedBoundingBox({includeLabels: false}));
  const taken = [];
  const hidden = [];
  nodes.forEach((node, i) => {
    const box = node.renderedBoundingBox({includeLabels: true});
    if (node.data("font") * cy.zoom() < MIN_FONT_PX || taken.some((other) => overlaps(box, other))
        || bodies.some((other, j) => j !== i && overlaps(box, other))) hidden.push(node);
    else taken.push(box);
  });
  cy.startBatch();
  hidden.forEach((node) => node.removeClass("labelled"));
  cy.endBatch();
  window.labelsPlaced = (window.labelsPlaced || 0) + 1;  // tests wait on this, not on time
}

let labelTimer = null;
function placeLabelsSoon() { clearTimeout(labelTimer); labelTimer = setTimeout(placeLabels, 80); }

function memberRow(key) { return $("members").querySelector(`tr[data-key="${CSS.escape(key)}"]`); }

// A member (row or node) picked: its node selected, its row marked, its profile beside the picture.
function pick(key) {
  const shown = ringState.into.get(key) || key;
  cy.$(":selected").unselect();
  const node = cy.getElementById(shown);
  if (node.nonempty()) node.select();
  document.querySelectorAll("#members tr.picked").forEach((row) => row.classList.remove("picked"));
  const row = memberRow(key);
  if (row) { row.classList.add("picked"); row.scrollIntoView({block: "nearest"}); }
}

function hover(key, on) {
  const node = cy && cy.getElementById(ringState.into.get(key) || key);
  if (node && node.nonempty()) node.toggleClass("hover", on);
  const row = memberRow(key);
  if (row) row.classList.toggle("hover", on);
}

function drawGraph(graph, members) {
  const started = performance.now();
  const byRole = Boolean(members);
  let shown = graph;
  ringState.into = new Map();
  if (byRole) {
    ({graph: shown, into: ringState.into} = folded(graph, $("show-cards").checked));
  }
  cy = cytoscape({
    container: $("cy"),
    elements: elementsOf(shown, byRole ? levels(shown, members) : new Map()),
    style: [
      {selector: "node", style: {"label": byRole ? "" : "data(label)", "font-size": byRole ? "data(font)" : 9,
                                 "width": byRole ? "data(size)" : 18, "height": byRole ? "data(size)" : 18,
                                 "text-valign": "bottom", "text-margin-y": 2, "text-background-color": "#fff",
                                 "text-background-opacity": 0.7, "text-background-padding": 1}},
      ...vocab.node_types.map((type) =>
        ({selector: `node[type = "${type.id}"]`, style: {"background-color": type.colour, "shape": type.shape}})),
      {selector: "node[!member]", style: {"opacity": 0.6, "width": 12, "height": 12}},
      {selector: "node.labelled, node.hover, node:selected", style: {"label": "data(label)", "z-index": 10}},
      // Labels on every edge of a busy ring pile up at the hubs: past 60 edges, only the
      // edges of the node under the pointer (or selected) are labelled.
      {selector: "edge", style: {"label": graph.edges.length <= 60 ? "data(label)" : "", "font-size": 7,
                                 "width": 1, "line-color": "#ccc", "curve-style": "bezier",
                                 "text-rotation": "autorotate"}},
      {selector: "edge.near, edge:selected", style: {"label": "data(label)", "line-color": "#555", "width": 1.5}},
      {selector: ":selected, node.hover", style: {"border-width": 3, "border-color": "#000"}},
    ],
    layout: byRole ? {name: "preset"} : layoutFor(shown.nodes.length),
  });
  if (byRole) cy.layout(roleLayout(cy.nodes())).run();
  cy.on("tap", "node", (event) => {
    const node = event.target;
    if (byRole) pick(node.id());
    showEntity(node.data("type"), node.data("entity"), true);
  });
  cy.on("mouseover", "node", (event) => { event.target.connectedEdges().addClass("near"); hover(event.target.id(), true); });
  cy.on("mouseout", "node", (event) => { event.target.connectedEdges().removeClass("near"); hover(event.target.id(), false); });
  if (byRole) {
    placeLabels();
    cy.on("viewport", placeLabelsSoon);
  }
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
  const ring = await (await api(`/rings/${seg($("disposition-form").dataset.ring)}`)).json();
  drawCasework(ring.casework);
}

// The slider's stops are the days of the ring's whole timeline, then "all"; the label follows the thumb.
function showAsOf() {
  const i = Number($("as-of").value);
  $("as-of-day").textContent = i < ringState.days.length ? ringState.days[i] : t("all");
}

async function loadRing(id, asOf = null) {
  show("ring");
  if (id !== ringState.id) ringState = {id, days: [], asOf: null, ring: null, into: new Map()};
  ringState.asOf = asOf;
  // Evidence sentences come in the console's language (the API renders them from the masked facts).
  const params = new URLSearchParams({lang});
  if (asOf) params.append("as_of", asOf);
  const ring = await (await api(`/rings/${seg(id)}?${params}`)).json();
  if (!asOf) ringState.days = ring.timeline.map((d) => d.day);
  ringState.ring = ring;
  $("as-of").max = ringState.days.length;
  $("as-of").value = asOf ? ringState.days.indexOf(asOf) : ringState.days.length;
  showAsOf();
  $("ring-title").textContent = `${ring.id} · ${term("patterns", ring.pattern)} · ${ring.score}`;
  $("ring-summary").replaceChildren(
    ...(ring.as_of ? [el("b", {}, `${t("asof")} ${ring.as_of}`), " · "] : []),
    `${t("persons")} ${ring.persons} · `, el("span", {id: "ring-claims"}, `${t("claims")} ${ring.claims}`),
    ` · ${t("fund")} ${ring.fund_amount.toLocaleString()} · ` +
    (ring.first_seen ? `${ring.first_seen} – ${ring.last_seen}` : t("notyet")) +
    (ring.regions.length ? ` · ${ring.regions.join(", ")}` : ""));
  drawGraph(ring.graph, ring.members);
  drawTimeline(ring.timeline);
  $("evidence").replaceChildren(...ring.evidence.map((e) => el("li", {},
    el("b", {title: e.kind}, term("finding_kinds", e.kind)), ` (${e.strength}) ${e.detail}`,
    e.whole_period ? el("small", {class: "whole-period"}, ` ${t("wholeperiod")}`) : null)));
  $("members").tHead.rows[0].replaceChildren(...["type", "id", "name", "role", "claims", "fund"].map((c) =>
    el("th", {}, c === "name" ? term("columns", c) : t(c))));
  $("members").tBodies[0].replaceChildren(...ring.members.map((m) =>
    el("tr", {"data-key": `${m.type}:${m.id}`, class: "member-row"},
       ...[typeName(m.type), el("a", {href: entityHref(m.type, m.id)}, m.id), m.label || "",
           term("member_roles", m.role), m.claims, m.fund_amount.toLocaleString()]
      .map((cell) => el("td", {}, cell)))));
  $("disposition-form").dataset.ring = ring.id;
  drawCasework(ring.casework);
  $("node-info").replaceChildren();
}

async function showEntity(type, id, inRing) {
  const info = $("node-info");
  try {
    const profile = await (await api(`/entities/${seg(type)}/${seg(id)}`)).json();
    const note = el("input", {id: "tip-note", placeholder: t("tipnote")});
    const tip = el("button", {id: "tip", type: "button"}, t("tip"));
    const tipResult = el("span", {id: "tip-result"});
    tip.addEventListener("click", guarded(async () => {
      const body = {client_key: crypto.randomUUID(), type, id, note: note.value};
      await api("/tips", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      tipResult.textContent = t("tipsaved");
      if (inRing && ringState.id) await refreshCasework();  // a profile beside a path search has no ring
    }));
    let expandButton = null;
    if (inRing) {
      expandButton = el("button", {id: "expand", type: "button"}, t("expand"));
      expandButton.addEventListener("click", guarded(() => expand(type, id)));
    }
    info.replaceChildren(
      el("h4", {}, `${typeName(type)} ${profile.id} `, el("a", {href: entityHref(type, profile.id)}, t("page"))),
      ...profileLines(profile), expandButton,
      el("p", {}, note, " ", tip, " ", tipResult));
  } catch (error) {
    info.textContent = error.message;
  }
  if (!inRing) show("ring");
}

// An entity's attributes, claim summary, flags and rings, as lines of a profile.
function profileLines(profile) {
  return [
    ...Object.entries(profile.attributes).filter(([, v]) => v !== null).map(([k, v]) =>
      el("div", {title: k}, `${term("columns", k)}: ${valueName(profile.type, k, v)}`)),
    el("div", {}, `${t("claims")}: ${profile.claims.claims} · ${profile.claims.fund_amount.toLocaleString()}`),
    el("div", {}, ...profile.flags.map((f) => el("div", {title: f.kind}, `⚑ ${f[lang]}${f.since ? ` ${f.since}` : ""}`))),
    el("div", {}, ...profile.rings.flatMap((r) => [el("a", {href: ringHref(r.id)}, r.id), " "])),
  ];
}

async function findPaths() {
  const params = new URLSearchParams({from: $("p-from").value.trim(), to: $("p-to").value.trim()});
  const found = await (await api(`/paths?${params}`)).json();
  show("ring");
  ringState = {id: null, days: [], asOf: null, ring: null, into: new Map()};
  $("ring-title").textContent = `${found.from} → ${found.to}`;
  $("ring-summary").textContent = found.paths.length ? found.paths.map((p) => p.join(" → ")).join(" | ") : t("nopath");
  drawGraph(found, null);
  for (const id of ["evidence", "timeline", "tips"]) $(id).replaceChildren();
  $("members").tBodies[0].replaceChildren();
}

async function expand(type, id) {
  const network = await (await api(`/entities/${seg(type)}/${seg(id)}/network?hops=1&limit=50`)).json();
  const have = new Set(cy.elements().map((element) => element.id()));
  cy.add(elementsOf({nodes: network.nodes.map((n) => ({...n, member: false})), edges: network.edges})
    .filter((element) => !have.has(element.data.id)));
  cy.layout(ringState.id ? roleLayout(cy.nodes()) : layoutFor(cy.nodes().length)).run();
}

// ---- entity page -----------------------------------------------------------------------------

const CLAIM_NODES = [["person", "person"], ["institution", "institution"], ["card", "card"], ["agent", "agent"],
                     ["contact_phone", "phone"], ["account", "account"], ["device", "device"]];

async function loadEntity(type, id, page = 1) {
  show("entity");
  const path = `/entities/${seg(type)}/${seg(id)}`;
  const [profile, claims, network] = await Promise.all([
    api(path).then((r) => r.json()), api(`${path}/claims?page=${page}&size=20`).then((r) => r.json()),
    api(`${path}/network?hops=1&limit=60`).then((r) => r.json())]);
  $("entity-title").textContent = `${typeName(type)} ${profile.id}`;
  $("entity-profile").replaceChildren(...profileLines(profile));
  $("entity-rings").replaceChildren(...profile.rings.map((r) =>
    el("li", {}, el("a", {href: ringHref(r.id)}, r.id), ` ${term("patterns", r.pattern)} · ${r.score}`)));
  $("entity-neighbours").replaceChildren(...network.nodes.filter((n) => n.id !== network.center).map((n) =>
    el("li", {}, `${typeName(n.type)} `, el("a", {href: entityHref(n.type, n.entity_id)}, n.label || n.entity_id))));
  $("entity-claims").tHead.rows[0].replaceChildren(
    ...["settlement_id", "kind", "start_time", "fund_amount"].map((c) => el("th", {}, term("columns", c))),
    // every column names a node type but the agent, a member role: both labelled from /vocab
    ...CLAIM_NODES.map(([, label]) => el("th", {}, vocab.node_types.some((w) => w.id === label) ? typeName(label)
                                                                                                : term("member_roles", label))));
  $("entity-claims").tBodies[0].replaceChildren(...claims.items.map((c) =>
    el("tr", {}, el("td", {}, c.settlement_id), el("td", {}, valueName("settlement", "kind", c.kind)), el("td", {}, (c.start_time || "").replace("T", " ")),
       el("td", {}, c.fund_amount === null ? "" : c.fund_amount.toLocaleString()),
       ...CLAIM_NODES.map(([field]) => el("td", {}, c[field] ? keyLink(c[field]) : "")))));
  $("c-page").textContent = `${claims.page} / ${Math.max(claims.pages, 1)} (${claims.total})`;
  $("c-prev").disabled = claims.page <= 1;
  $("c-next").disabled = claims.page >= claims.pages;
  $("entity").dataset.page = claims.page;
}

// ---- institution risk and the monthly report ---------------------------------------------------

// Pages some roles may not read ask first and show after, so a refused role never sees the section.
async function loadRisk() {
  const ranking = await (await api("/institutions/risk?limit=100")).json();
  show("risk");
  $("risk-table").tHead.rows[0].replaceChildren(
    ...["rank", "institution", "riskscore", "suspicion", "impact", "peer", "reasons"]
      .map((c) => el("th", {}, c === "institution" ? typeName(c) : t(c))));
  $("risk-table").tBodies[0].replaceChildren(...ranking.institutions.map((x, i) =>
    el("tr", {}, el("td", {}, ranking.offset + i + 1), el("td", {}, el("a", {href: entityHref("institution", x.id)}, x.id)),
       el("td", {}, x.score.toFixed(3)), el("td", {}, x.suspicion.toFixed(3)), el("td", {}, x.impact.toFixed(2)),
       el("td", {}, x.peer_group),
       el("td", {}, el("ul", {class: "reasons"}, ...x.reasons.map((r) => el("li", {title: r.indicator}, r[lang])))))));
}

function reportMonth() {
  if (!$("r-month").value) $("r-month").value = new Date().toISOString().slice(0, 7);
  return $("r-month").value;
}

async function loadReport() {
  const month = reportMonth();
  const report = await (await api(`/reports/monthly?${new URLSearchParams({month})}`)).json();
  show("report");
  const cells = (row) => report.columns.map((c) =>
    el("td", {}, typeof row[c.key] === "number" ? row[c.key].toLocaleString() : row[c.key]));
  $("report-table").tHead.rows[0].replaceChildren(...report.columns.map((c) =>
    el("th", {title: lang === "zh" ? c.en : c.zh}, c[lang])));
  $("report-table").tBodies[0].replaceChildren(...report.rows.map((row) => el("tr", {}, ...cells(row))));
  $("report-table").tFoot.replaceChildren(el("tr", {class: "totals"}, ...cells(report.totals)));
  $("report-rings").replaceChildren(...report.rings.map((r) =>
    el("li", {}, el("a", {href: ringHref(r.id)}, r.id), ` ${term("patterns", r.pattern)} · `,
       r.events.map((e) => (e === "new" ? t("new") : term("dispositions", e))).join(", "),
       ` · ${r.regions.join(", ")} · ${r.fund_amount.toLocaleString()}`)));
  $("report-notes").replaceChildren(...report.notes.map((n) => el("li", {}, n)));
}

// ---- webhooks (administrators) ------------------------------------------------------------------

const when = (stamp) => (stamp ? stamp.slice(0, 19).replace("T", " ") : "");

async function loadWebhooks(shown = null) {
  const list = await (await api("/webhooks")).json();
  show("webhooks");
  $("webhook-table").tHead.rows[0].replaceChildren(
    ...["id", "url", "hookevents", "secrethint", "created", "createdby", ""].map((c) => el("th", {}, c && t(c))));
  $("webhook-table").tBodies[0].replaceChildren(...list.items.map((w) =>
    el("tr", {"data-id": w.id}, el("td", {}, w.id), el("td", {}, w.url),
       el("td", {}, w.events.map((e) => term("webhook_events", e)).join("、")), el("td", {}, w.secret_hint),
       el("td", {}, when(w.created_at)), el("td", {}, w.created_by),
       el("td", {}, el("button", {type: "button", "data-action": "deliveries"}, t("deliveries")), " ",
          el("button", {type: "button", "data-action": "delete"}, t("delete"))))));
  const chosen = new Set([...$("w-events").querySelectorAll("input:checked")].map((box) => box.value));
  $("w-events").replaceChildren(el("legend", {}, t("hookevents")), ...vocab.webhook_events.map((e) =>
    el("label", {}, el("input", {type: "checkbox", value: e.id, ...(chosen.has(e.id) ? {checked: ""} : {})}),
       ` ${e[lang]}`)));
  if (shown && list.items.some((w) => w.id === shown)) await loadDeliveries(shown);
  else $("deliveries-title").hidden = $("delivery-table").hidden = true;
}

async function loadDeliveries(id) {
  const log = await (await api(`/webhooks/${seg(id)}/deliveries?size=50`)).json();
  $("deliveries-title").textContent = `${t("deliveries")} ${id} (${log.total})`;
  $("delivery-table").dataset.webhook = id;
  $("delivery-table").tHead.rows[0].replaceChildren(
    ...["created", "hookevents", "state", "attempts", "lastanswer", "nextattempt"].map((c) => el("th", {}, t(c))));
  $("delivery-table").tBodies[0].replaceChildren(...log.items.map((d) => {
    const last = d.attempts[d.attempts.length - 1];
    const answer = last ? (last.status_code === null ? last.error : `HTTP ${last.status_code}`) : "";
    return el("tr", {}, el("td", {}, when(d.created_at)), el("td", {}, term("webhook_events", d.event)),
              el("td", {class: `state-${d.state}`}, term("webhook_states", d.state)), el("td", {}, d.attempts.length),
              el("td", {}, answer), el("td", {}, when(d.next_attempt_at)));
  }));
  $("deliveries-title").hidden = $("delivery-table").hidden = false;
}

async function download(path, name) {
  const blob = await (await api(path)).blob();
  el("a", {href: URL.createObjectURL(blob), download: name}).click();
}

// ---- wiring --------------------------------------------------------------------------------

function route() {
  $("error").textContent = "";
  if (!key) { show("signin"); return; }
  const hash = location.hash;
  const ring = hash.match(/^#\/ring\/(.+)$/);
  const entity = hash.match(/^#\/entity\/([^/]+)\/(.+)$/);
  guarded(async () => {
    if (ring) await loadRing(decodeURIComponent(ring[1]));
    else if (entity) {
      const type = decodeURIComponent(entity[1]);
      // only the node types /vocab names: anything else in a link is refused before any request
      if (!vocab.node_types.some((w) => w.id === type)) throw new Error(`${t("badlink")}: ${type}`);
      await loadEntity(type, decodeURIComponent(entity[2]));
    }
    else if (hash === "#/risk") await loadRisk();
    else if (hash === "#/report") await loadReport();
    else if (hash === "#/webhooks") await loadWebhooks();
    else await loadQueue();
  })();
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
  await api(`/rings/${seg(event.target.dataset.ring)}/disposition`, {method: "PUT",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({status: $("d-status").value, note: $("d-note").value})});
  await refreshCasework();
}));
$("show-cards").addEventListener("change", () => { if (ringState.ring) drawGraph(ringState.ring.graph, ringState.ring.members); });
$("as-of").addEventListener("input", showAsOf);
$("as-of").addEventListener("change", guarded(async () => {
  const i = Number($("as-of").value);
  await loadRing(ringState.id, i < ringState.days.length ? ringState.days[i] : null);
}));
$("members").addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-key]");
  if (!row || event.target.closest("a")) return;  // the id's link opens the entity's page
  pick(row.dataset.key);
  const key = row.dataset.key;
  showEntity(key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1), true);
});
$("members").addEventListener("mouseover", (event) => {
  const row = event.target.closest("tr[data-key]");
  if (row && !row.contains(event.relatedTarget)) hover(row.dataset.key, true);
});
$("members").addEventListener("mouseout", (event) => {
  const row = event.target.closest("tr[data-key]");
  if (row && !row.contains(event.relatedTarget)) hover(row.dataset.key, false);
});
const entityPage = (step) => () => {
  const [, type, id] = location.hash.match(/^#\/entity\/([^/]+)\/(.+)$/);
  guarded(loadEntity)(decodeURIComponent(type), decodeURIComponent(id), Number($("entity").dataset.page) + step);
};
$("c-prev").addEventListener("click", entityPage(-1));
$("c-next").addEventListener("click", entityPage(1));
$("r-month").addEventListener("change", guarded(loadReport));
for (const format of ["xlsx", "pdf"]) {
  $(`r-${format}`).addEventListener("click", guarded(() => {
    const month = reportMonth();
    return download(`/reports/monthly.${format}?${new URLSearchParams({month})}`, `monthly-report-${month}.${format}`);
  }));
}
$("export").addEventListener("click", guarded(async () => {
  const id = $("disposition-form").dataset.ring;
  const format = $("x-format").value;
  await download(`/rings/${seg(id)}/export?format=${seg(format)}`, `${id}-${format}.zip`);
}));

$("webhook-form").addEventListener("submit", guarded(async (event) => {
  event.preventDefault();
  const events = [...$("w-events").querySelectorAll("input:checked")].map((box) => box.value);
  // none ticked: every event (the API's default)
  const body = {url: $("w-url").value.trim(), secret: $("w-secret").value, ...(events.length ? {events} : {})};
  const made = await (await api("/webhooks", {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify(body)})).json();
  $("w-url").value = $("w-secret").value = "";
  $("w-events").querySelectorAll("input").forEach((box) => { box.checked = false; });
  await loadWebhooks(made.id);
}));
$("webhook-table").addEventListener("click", guarded(async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const id = button.closest("tr[data-id]").dataset.id;
  if (button.dataset.action === "deliveries") { await loadDeliveries(id); return; }
  if (!window.confirm(`${t("confirmdelete")} ${id}`)) return;
  await api(`/webhooks/${seg(id)}`, {method: "DELETE"});
  await loadWebhooks();
}));

translate();
show("signin");
