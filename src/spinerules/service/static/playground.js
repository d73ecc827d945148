// spinerules playground: vanilla JavaScript, no build step, nothing fetched from elsewhere.
//
// The page talks to the service's own API only: GET /guidelines (and their examples),
// GET /cds-services (discovery), POST /evaluate/{guideline}?trace=true (the result JSON: the
// questions and the explanations), and for the cards POST /cds-services/{id} with a FHIR
// Bundle split into the service's prefetch templates, as an EHR fills them, or
// POST /cards/{guideline} with a plain record (not FHIR; the same patient-view cards).
//
// Every text from a response is put in the page as text (textContent, createTextNode): no
// response string is ever parsed as HTML. Card details are Markdown, rendered by the small
// subset renderer below into DOM nodes.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { guidelines: [], services: [], result: null, cards: null };

  // ---------- small helpers ----------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  // Only web links leave the page: javascript:, data: and the like are shown as text.
  function safeUrl(raw) {
    if (typeof raw !== "string" || raw === "") return null;
    try {
      const u = new URL(raw, window.location.href);
      return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
    } catch (_e) {
      return null;
    }
  }

  function link(url, label) {
    const href = safeUrl(url);
    if (href === null) return el("span", {}, label || String(url || ""));
    return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, label || href);
  }

  function valueText(v) {
    if (v === true) return "true";
    if (v === false) return "false";
    if (v === null || v === undefined) return "unknown";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function valueNode(v) {
    const text = valueText(v);
    const cls = text === "true" ? "v-true" : text === "false" ? "v-false"
      : text === "unknown" ? "v-unknown" : "";
    return el("span", { class: cls }, text);
  }

  // ---------- Markdown, a small safe subset ----------
  // Blocks: paragraphs, "#" headings (shown as strong lines), "-", "*" and "1." lists.
  // Inline: `code`, **strong**, *em* / _em_ (not inside a word: weeks_since_onset stays as
  // it is), [text](http(s) URL), bare http(s) URLs.
  // The output is DOM nodes built from text: any HTML in the source stays literal text.

  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*|(?<![A-Za-z0-9_])_[^_\s][^_\n]*_(?![A-Za-z0-9_]))|(\[[^\]\n]+\]\([^)\s]+\))|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

  function inline(text, parent) {
    let last = 0;
    const re = new RegExp(INLINE.source, "g"); // one per call: strong and em recurse
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
      const t = m[0];
      if (m[1]) parent.append(el("code", {}, t.slice(1, -1)));
      else if (m[2]) inline(t.slice(2, -2), parent.appendChild(el("strong")));
      else if (m[3]) inline(t.slice(1, -1), parent.appendChild(el("em")));
      else if (m[4]) {
        const close = t.indexOf("](");
        parent.append(link(t.slice(close + 2, -1), t.slice(1, close)));
      } else parent.append(link(t, t));
      last = m.index + t.length;
    }
    if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
    return parent;
  }

  function renderMarkdown(source) {
    const root = el("div", { class: "md" });
    const lines = String(source === null || source === undefined ? "" : source)
      .replace(/\r\n?/g, "\n").split("\n");
    let para = [];
    let list = null;
    const flush = () => {
      if (para.length) root.append(inline(para.join(" "), el("p")));
      para = [];
    };
    for (const raw of lines) {
      const line = raw.trim();
      const bullet = /^([-*+]|\d+[.)])\s+(.*)$/.exec(line);
      if (line === "") {
        flush();
        list = null;
      } else if (bullet) {
        flush();
        const ordered = /\d/.test(bullet[1][0]);
        if (list === null || (list.tagName === "OL") !== ordered) {
          list = el(ordered ? "ol" : "ul");
          root.append(list);
        }
        list.append(inline(bullet[2], el("li")));
      } else if (/^#{1,6}\s/.test(line)) {
        flush();
        list = null;
        root.append(inline(line.replace(/^#+\s+/, ""), el("p", { class: "md-heading" })));
      } else if (list !== null && /^\s{2,}/.test(raw)) {
        list.lastChild.append(" ");
        inline(line, list.lastChild);
      } else {
        list = null;
        para.push(line);
      }
    }
    flush();
    return root;
  }

  // ---------- the API ----------

  function headers(json) {
    const h = { Accept: "application/json" };
    if (json) h["Content-Type"] = "application/json";
    const token = $("token").value.trim();
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  async function api(method, path, body) {
    const init = { method, headers: headers(body !== undefined) };
    if (body !== undefined) init.body = JSON.stringify(body);
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new Error(`${method} ${path}: the server did not answer (${e.message})`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_e) {
      data = null;
    }
    if (!response.ok) {
      const err = data && data.error;
      let message = `${method} ${path}: HTTP ${response.status}`;
      if (err && typeof err === "object") {
        message += ` ${err.code || ""}: ${err.message || ""}`;
        if (err.path) message += ` (at ${err.path})`;
      } else if (text) {
        message += ": " + text.slice(0, 300);
      }
      const e = new Error(message);
      e.status = response.status;
      throw e;
    }
    return data;
  }

  const enc = encodeURIComponent;

  // ---------- guidelines, services, examples ----------

  function servicesFor(guideline) {
    // A service belongs to a guideline by its declared guideline (extension or field), or
    // else by its id ("<guideline>-<hook>" and the like).
    return state.services.filter((s) => {
      const ext = s.extension || {};
      const declared = s.guideline || ext.guideline || ext["spinerules-guideline"]
        || (ext.spinerules && ext.spinerules.guideline);
      if (declared) return (typeof declared === "object" ? declared.id : declared) === guideline;
      const id = String(s.id || "");
      return id === guideline || id.startsWith(guideline + "-") || id.startsWith(guideline + ".")
        || id.startsWith(guideline + "_");
    });
  }

  function fillHooks() {
    const g = $("guideline").value;
    const hook = $("hook");
    const previous = hook.value || "patient-view";
    const hooks = [...new Set(servicesFor(g).map((s) => s.hook).filter(Boolean))];
    if (!hooks.includes("patient-view")) hooks.unshift("patient-view");
    const names = { "patient-view": "patient-view (chart opened)",
      "order-sign": "order-sign (draft orders signed)" };
    hook.replaceChildren(...hooks.map((h) => el("option", { value: h }, names[h] || h)));
    hook.value = hooks.includes(previous) ? previous : "patient-view";
  }

  function fillExamples() {
    const g = state.guidelines.find((x) => x.id === $("guideline").value);
    const box = $("examples");
    box.replaceChildren();
    $("guideline-info").textContent = g
      ? `${g.title || g.id}${g.version ? ", version " + g.version : ""}`
        + (g.hash ? ` (sha256 ${String(g.hash).slice(0, 12)}…)` : "")
      : "";
    if (!g) return;
    const names = g.examples || [];
    if (!names.length) box.append(el("span", { class: "hint" }, "No examples for this guideline."));
    for (const name of names) {
      box.append(el("button", {
        type: "button", "data-example": name, "aria-pressed": "false",
        onclick: () => loadExample(g.id, name),
      }, name));
    }
    fillHooks();
  }

  async function loadExample(guideline, name) {
    setStatus(`Loading the example ${name}…`);
    try {
      const data = await api("GET", `/guidelines/${enc(guideline)}/examples/${enc(name)}`);
      $("record").value = JSON.stringify(data, null, 2);
      for (const b of $("examples").querySelectorAll("button")) {
        b.setAttribute("aria-pressed", b.dataset.example === name ? "true" : "false");
      }
      setStatus(`Example ${name} loaded: press Evaluate.`);
      hideError();
    } catch (e) {
      showError(e.message);
      setStatus("The example could not be loaded.");
    }
  }

  async function init() {
    const today = new Date();
    $("as-of").value = today.toISOString().slice(0, 10);
    $("guideline").addEventListener("change", fillExamples);
    $("input").addEventListener("submit", (ev) => {
      ev.preventDefault();
      submit();
    });
    $("clear").addEventListener("click", () => {
      $("record").value = "";
      $("file").value = "";
      for (const b of $("examples").querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
    });
    $("file").addEventListener("change", () => {
      const f = $("file").files[0];
      if (!f) return;
      f.text().then((t) => {
        $("record").value = t;
        setStatus(`File ${f.name} loaded: press Evaluate.`);
      }, (e) => showError(`The file could not be read: ${e.message}`));
    });
    $("code").addEventListener("change", () => explain($("code").value));
    try {
      const [guidelines, discovery] = await Promise.all([
        api("GET", "/guidelines"),
        api("GET", "/cds-services").catch(() => ({ services: [] })),
      ]);
      state.guidelines = Array.isArray(guidelines) ? guidelines : (guidelines.guidelines || []);
      state.services = (discovery && discovery.services) || [];
      const select = $("guideline");
      select.replaceChildren(...state.guidelines.map((g) =>
        el("option", { value: g.id }, `${g.id}: ${g.title || ""}`)));
      if (state.guidelines.some((g) => g.id === "vcf")) select.value = "vcf";
      fillExamples();
      setStatus("Ready: choose an example or paste a record.");
    } catch (e) {
      showError(e.message);
      setStatus("The guidelines could not be listed.");
    }
    document.body.dataset.ready = "true";
  }

  // ---------- FHIR: a Bundle into the service's prefetch ----------

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Every resource gets an id, and references to the Bundle's fullUrls become "Type/id", as
  // a FHIR server's search results hold them.
  function normalise(bundle) {
    const entries = JSON.parse(JSON.stringify((bundle.entry || [])
      .filter((e) => e && e.resource && typeof e.resource.resourceType === "string")));
    const refs = new Map();
    entries.forEach((e, i) => {
      const r = e.resource;
      if (!r.id) r.id = `${r.resourceType.toLowerCase()}-${i}`;
      if (e.fullUrl) refs.set(e.fullUrl, `${r.resourceType}/${r.id}`);
    });
    const walk = (x) => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === "object") {
        for (const [k, v] of Object.entries(x)) {
          if (k === "reference" && typeof v === "string" && refs.has(v)) x[k] = refs.get(v);
          else walk(v);
        }
      }
    };
    walk(entries);
    return entries.map((e) => e.resource);
  }

  const ORDER_TYPES = ["ServiceRequest", "MedicationRequest"];
  const isDraftOrder = (r) => ORDER_TYPES.includes(r.resourceType) && r.status === "draft";

  // The hook call an EHR makes for this patient: the Patient and one searchset Bundle per
  // prefetch template; for order-sign, the Bundle's draft orders (ServiceRequest or
  // MedicationRequest with status "draft") are the orders being signed, in
  // context.draftOrders, and not part of the prefetch.
  function cdsRequest(bundle, service) {
    const all = normalise(bundle);
    const orders = service.hook === "order-sign" ? all.filter(isDraftOrder) : [];
    const resources = all.filter((r) => !orders.includes(r));
    const patient = resources.find((r) => r.resourceType === "Patient");
    const patientId = patient ? patient.id : "unknown";
    const prefetch = {};
    const used = new Set();
    for (const [key, template] of Object.entries(service.prefetch || {})) {
      const type = String(template).split(/[/?]/)[0];
      const matching = resources.filter((r) => r.resourceType === type);
      matching.forEach((r) => used.add(r));
      if (String(template).startsWith(type + "/")) {
        prefetch[key] = matching[0] || null;
      } else {
        prefetch[key] = {
          resourceType: "Bundle", type: "searchset", total: matching.length,
          entry: matching.map((r) => ({ fullUrl: `${r.resourceType}/${r.id}`, resource: r })),
        };
      }
    }
    const context = { userId: "Practitioner/playground", patientId };
    if (service.hook === "order-sign") {
      context.draftOrders = {
        resourceType: "Bundle", type: "collection",
        entry: orders.map((r) => ({ fullUrl: `${r.resourceType}/${r.id}`, resource: r })),
      };
    }
    return {
      body: { hookInstance: uuid(), hook: service.hook, context, prefetch },
      left: resources.filter((r) => !used.has(r)).length,
      orders: orders.length,
    };
  }

  // ---------- cards ----------

  const LABELS = { critical: "Critical", warning: "Warning", info: "Info" };

  function citationUrl(c) {
    if (c.doi) return "https://doi.org/" + c.doi;
    if (c.pmid) return `https://pubmed.ncbi.nlm.nih.gov/${c.pmid}/`;
    return c.url || null;
  }

  function renderCard(card, i) {
    const indicator = ["critical", "warning", "info"].includes(card.indicator) ? card.indicator : "info";
    const titleId = `card-${i}-summary`;
    const item = el("li", { class: "card", "data-indicator": indicator, "aria-labelledby": titleId });
    item.append(el("div", { class: "card-head" },
      el("span", { class: "badge " + indicator }, LABELS[indicator]),
      el("h4", { class: "card-summary", id: titleId }, card.summary || "")));
    if (card.detail) {
      // as an EHR lists them: the summary first, the detail one click away (open when critical)
      const d = renderMarkdown(card.detail);
      d.classList.add("card-detail");
      item.append(el("details", { class: "card-more", open: indicator === "critical" },
        el("summary", {}, "Details"), d));
    }
    const sources = Array.isArray(card.source) ? card.source : card.source ? [card.source] : [];
    if (sources.length) {
      const p = el("div", { class: "card-source" }, el("strong", {}, "Source: "));
      if (sources.length === 1) {
        p.append(link(sources[0].url, sources[0].label || sources[0].url));
      } else {
        p.append(el("ul", {}, ...sources.map((s) => el("li", {}, link(s.url, s.label || s.url)))));
      }
      item.append(p);
    }
    const shownUrls = new Set(sources.map((x) => x.url));
    const links = (card.links || []).filter((l) => l && l.url && !shownUrls.has(l.url));
    if (links.length) {
      const more = item.querySelector(".card-more") || item.appendChild(
        el("details", { class: "card-more" }, el("summary", {}, "Details")));
      more.append(el("div", { class: "card-links" }, el("strong", {}, "Links"),
        el("ul", {}, ...links.map((l) => el("li", {}, link(l.url, l.label || l.url),
          l.type === "smart" ? " (SMART app)" : "")))));
    }
    const suggestions = card.suggestions || [];
    if (suggestions.length) {
      const box = el("div", { class: "suggestions", role: "group", "aria-label": "Suggestions" });
      const shown = el("pre", { class: "suggestion-json", hidden: true, "aria-live": "polite" });
      suggestions.forEach((s) => {
        box.append(el("button", {
          type: "button", class: s.isRecommended ? "recommended secondary" : "secondary",
          title: "Show what accepting it would create (the playground creates nothing)",
          onclick: () => {
            shown.hidden = false;
            shown.textContent = JSON.stringify(s.actions || [], null, 2);
          },
        }, (s.isRecommended ? "★ " : "") + (s.label || "Suggestion")));
      });
      item.append(box, shown);
    }
    return item;
  }

  function renderCards(response, note) {
    const list = $("cards");
    const cards = (response && response.cards) || [];
    list.replaceChildren(...cards.map(renderCard));
    $("cards-note").textContent = note || (cards.length ? `${cards.length} card(s).` : "No card.");
    $("raw-cards").textContent = response ? JSON.stringify(response, null, 2) : "";
  }

  // ---------- questions and explanations, from the result JSON ----------

  function renderMissing(result) {
    const list = $("missing");
    const items = [];
    for (const m of result.missing || []) {
      const li = el("li", { "data-code": m.code },
        el("strong", {}, m.text || m.code), " ",
        el("span", { class: "hint" }, "(", el("code", {}, m.code), ")"));
      if ((m.facts || []).length) {
        li.append(el("div", {}, "Facts to record: ",
          ...m.facts.flatMap((f, k) => [k ? ", " : "", el("code", {}, f)])));
      }
      if ((m.waiting || []).length) {
        li.append(el("div", { class: "hint" }, "Undecided until then: " + m.waiting.join(", ")));
      }
      items.push(li);
    }
    for (const r of result.recommendations || []) {
      if ((r.pending || []).length) {
        items.push(el("li", { "data-code": r.code },
          el("strong", {}, `${r.code} assumes these facts do not apply (not recorded): `),
          ...r.pending.flatMap((f, k) => [k ? ", " : "", el("code", {}, f)])));
      }
    }
    if (!items.length) items.push(el("li", { class: "hint" }, "No fact is missing."));
    list.replaceChildren(...items);
  }

  function codesOf(result) {
    const codes = new Map();
    for (const r of result.recommendations || []) codes.set(r.code, `${r.code} (${r.action})`);
    for (const m of result.missing || []) codes.set(m.code, `${m.code} (request)`);
    for (const u of result.undetermined || []) {
      for (const c of u.codes || []) if (!codes.has(c)) codes.set(c, `${c} (undetermined)`);
    }
    for (const c of Object.keys(result.explanations || {}).sort()) {
      if (!codes.has(c)) codes.set(c, `${c} (not given)`);
    }
    return codes;
  }

  function conditionList(items) {
    // "via name: expr" lines hang under the define they explain.
    const ul = el("ul");
    for (const it of items) {
      const expr = String(it.expression);
      const via = /^via ([^:]+): (.*)$/.exec(expr);
      ul.append(el("li", via ? { class: "via" } : {},
        via ? el("span", { class: "hint" }, `(${via[1]}) `) : null,
        el("code", {}, via ? via[2] : expr), " is ", valueNode(it.value)));
    }
    return ul;
  }

  // The service's explanation (trace=true): lines, "- " items indented under their rule.
  function explanationText(text) {
    const root = el("div");
    let list = null;
    for (const raw of String(text).split("\n")) {
      const m = /^(\s*)- (.*)$/.exec(raw);
      if (m) {
        if (list === null) root.append(list = el("ul"));
        list.append(inline(m[2], el("li", m[1].length > 2 ? { class: "via" } : {})));
      } else if (raw.trim() !== "") {
        list = null;
        root.append(inline(raw.trim(), el("p")));
      }
    }
    return root;
  }

  function explain(code) {
    const out = $("explanation");
    out.replaceChildren();
    const result = state.result;
    if (!result || !code) return;
    const text = (result.explanations || {})[code];
    if (typeof text === "string") {
      out.append(explanationText(text));
      return;
    }
    // without the service's explanations: what the result itself says
    for (const r of (result.recommendations || []).filter((x) => x.code === code)) {
      out.append(el("p", {}, el("code", {}, code), ` (${r.action}${r.urgency ? ", " + r.urgency : ""})`
        + " was given by rule ", el("code", {}, r.rule), ` (${r.location}), because:`));
      out.append(conditionList(r.because || []));
    }
    for (const m of (result.missing || []).filter((x) => x.code === code)) {
      out.append(el("p", {}, el("code", {}, code), " asks for " + (m.facts || []).join(", ")
        + (m.waiting && m.waiting.length ? "; waiting on it: " + m.waiting.join(", ") : "")));
    }
    for (const u of (result.undetermined || []).filter((x) => (x.codes || []).includes(code))) {
      out.append(el("p", {}, "rule ", el("code", {}, u.rule), ` (${u.location}) is undetermined;`
        + " it would be decided by " + (u.facts || []).join(", ")));
    }
    if (!out.childNodes.length) out.append(el("p", {}, `No explanation for ${code}.`));
  }

  function renderResult(result) {
    state.result = result;
    $("raw-result").textContent = JSON.stringify(result, null, 2);
    renderMissing(result);
    const codes = codesOf(result);
    const select = $("code");
    select.replaceChildren(...[...codes].map(([c, label]) => el("option", { value: c }, label)));
    select.disabled = codes.size === 0;
    if (codes.size) explain(select.value);
    else $("explanation").replaceChildren(el("p", {}, "No code to explain."));
  }

  // ---------- submit ----------

  function setStatus(text) {
    $("status").textContent = text;
  }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = false;
  }

  function hideError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  async function submit() {
    hideError();
    const g = $("guideline").value;
    const asOf = $("as-of").value;
    if (!g) return showError("Choose a guideline.");
    if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf)) return showError("Give the evaluation date (YYYY-MM-DD).");
    let data;
    try {
      data = JSON.parse($("record").value);
    } catch (e) {
      return showError(`The patient is not valid JSON: ${e.message}`);
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      return showError("The patient must be a JSON object: a record or a FHIR Bundle.");
    }
    const output = $("output");
    output.setAttribute("aria-busy", "true");
    $("submit").disabled = true;
    setStatus("Evaluating…");
    const isBundle = data.resourceType === "Bundle";
    const errors = [];
    const evaluation = api("POST", `/evaluate/${enc(g)}?as_of=${enc(asOf)}&trace=true`, data)
      .then(renderResult, (e) => {
        errors.push(e.message);
        state.result = null;
        $("missing").replaceChildren();
        $("explanation").replaceChildren();
        $("code").replaceChildren();
        $("raw-result").textContent = "";
      });
    const cards = (async () => {
      try {
        if (!isBundle && $("hook").value === "order-sign") {
          throw new Error("order-sign needs a FHIR Bundle holding the draft orders to sign");
        }
        if (!isBundle) {
          // a record is not FHIR: the REST twin of patient-view gives the same cards
          const response = await api("POST", `/cards/${enc(g)}?as_of=${enc(asOf)}`, data);
          renderCards(response, `${(response.cards || []).length} card(s), as the service `
            + `${g}-patient-view gives them (the record through POST /cards/${g}).`);
          return;
        }
        const hook = $("hook").value || "patient-view";
        const service = servicesFor(g).find((s) => s.hook === hook);
        if (!service) {
          renderCards(null, `No CDS service of ${g} for the hook ${hook}.`);
          return;
        }
        // a Bundle goes to the CDS Hooks service as an EHR sends a patient: as prefetch
        const { body, left, orders } = cdsRequest(data, service);
        if (hook === "order-sign" && !orders) {
          throw new Error("order-sign: the Bundle holds no draft order to sign (a ServiceRequest"
            + " or MedicationRequest with \"status\": \"draft\")");
        }
        const response = await api("POST", `/cds-services/${enc(service.id)}?as_of=${enc(asOf)}`, body);
        renderCards(response, `${(response.cards || []).length} card(s) from the CDS service `
          + `${service.id}` + (hook === "order-sign" ? ` for ${orders} draft order(s)` : "")
          + (left ? `; ${left} resource(s) matched no prefetch template.` : "."));
      } catch (e) {
        errors.push(e.message);
        renderCards(null, "No cards: see the error above.");
      }
    })();
    await Promise.all([evaluation, cards]);
    output.setAttribute("aria-busy", "false");
    $("submit").disabled = false;
    if (errors.length) {
      showError(errors.join("\n"));
      setStatus("Done, with errors.");
    } else {
      const n = $("cards").children.length;
      setStatus(`Done: ${n} card(s), ${(state.result.missing || []).length} question(s).`);
    }
    document.body.dataset.evaluated = String(Number(document.body.dataset.evaluated || 0) + 1);
  }

  window.spinerulesPlayground = { renderMarkdown, cdsRequest, normalise };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
