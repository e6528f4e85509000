/*
 * retain dashboard: a generic renderer of the JSON "pages" described in the UI contract
 * (notes/ui-contract.md), plus three interactive views (at-risk list, customer lookup, sign-in).
 * It knows nothing of statistics: every number arrives precomputed.
 *
 * Constraints that shape this file:
 * - strict CSP: no inline handlers, no eval, no innerHTML with data (DOM API + textContent only;
 *   ECharts tooltip strings are built from escaped text);
 * - two data sources with one interface: `api` (fetch + bearer token) and `embedded` (the JSON in
 *   #retain-data of a self-contained report opened from file://, which must never fetch);
 * - tests read window.__retainReady, document.body.dataset.page and the data-panel/data-kind
 *   attributes of chart containers, and count drawn marks through the ECharts model API, so every
 *   data item must get its own graphic element (no `large`, no progressive rendering).
 */
(function () {
  'use strict';

  // ---------------------------------------------------------------- configuration and state

  const config = readJson('retain-config') || { mode: 'api', auth: true };
  const EMBEDDED = config.mode === 'embedded';
  const embedded = EMBEDDED ? readJson('retain-data') : null;
  const TOKEN_KEY = 'retain-token';
  const PAGE_SIZE = 100;   // at-risk list page size and the row limit of panel tables
  const PAGES = [
    { id: 'overview', label: 'Overview' },
    { id: 'segments', label: 'Segments' },
    { id: 'value', label: 'Value' },
    { id: 'retention', label: 'Retention' },
    { id: 'at-risk', label: 'At risk' },
    { id: 'customer', label: 'Customer lookup' },
    { id: 'campaigns', label: 'Campaigns' },
    { id: 'models', label: 'Models' },
    { id: 'production', label: 'Production' },
  ];
  const SORTS = [
    ['value_at_risk', 'Value at risk'], ['churn_risk', 'Churn risk'], ['clv', 'CLV'],
    ['historic_value', 'Historic value'], ['p_alive', 'P(alive)'], ['customer_id', 'Customer ID'],
  ];
  const ROW_KEYS = ['customer_id', 'segment', 'stage', 'churn_risk', 'p_alive', 'expected_purchases',
    'clv', 'historic_value', 'value_at_risk', 'next_purchase', 'reasons'];
  // Muted, colour-blind-aware palette (blue/orange first so two-series charts stay distinguishable).
  const PALETTE = ['#3b6ea5', '#e08a3c', '#4a9b7f', '#c0504d', '#8064a2', '#d4a72c', '#5aa9c9', '#7f8c8d', '#b5651d', '#2e8b57'];
  const HEAT = ['#f4f8fc', '#c6dbef', '#6baed6', '#2f73b3', '#0b3d75'];
  const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "DejaVu Sans", Arial, sans-serif';
  const INK = '#3e4c59', MUTED = '#7b8794', GRID = '#e9edf1';

  const state = {
    analyses: [], analysis: null, token: null,
    charts: [],        // ECharts instances of the current view (disposed on navigation)
    nav: 0,            // navigation counter: a slow load must not paint over a newer page
    routed: false,     // first route done (focus moves to the heading only on later navigations)
  };
  window.__retainReady = false;

  function readJson(id) {
    const el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  // ---------------------------------------------------------------- formatting for people

  /** en-US formats; signDisplay 'negative' avoids "-0" after rounding (older engines: without it). */
  function nf(opts) {
    try { return new Intl.NumberFormat('en-US', Object.assign({ signDisplay: 'negative' }, opts)); } catch (e) {
      return new Intl.NumberFormat('en-US', opts);
    }
  }
  const NF = {
    int: nf({ maximumFractionDigits: 0 }),
    dec2: nf({ minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    upTo2: nf({ maximumFractionDigits: 2 }),
    sig2: nf({ maximumSignificantDigits: 2 }),
    pct1: nf({ style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }),
    pctAxis: nf({ style: 'percent', maximumFractionDigits: 1 }),
    compact: nf({ notation: 'compact', maximumFractionDigits: 1 }),
    pp: nf({ maximumFractionDigits: 1 }),
  };
  const NUMERIC = { int: 1, number: 1, money: 1, share: 1, rate: 1 };

  /** A cell or value formatted per the contract's F; null → "–". */
  function fmt(v, f) {
    if (v === null || v === undefined || (typeof v === 'number' && !isFinite(v))) return '–';
    if (typeof v !== 'number') return String(v);
    switch (f) {
      case 'int': return NF.int.format(v);
      case 'money': return Math.abs(v) < 1000 ? NF.dec2.format(v) : NF.int.format(v);
      case 'share': return NF.pct1.format(v);
      case 'rate': return NF.dec2.format(v);
      case 'date': return new Date(v).toISOString().slice(0, 10);
      case 'number': return v !== 0 && Math.abs(v) < 1 ? NF.sig2.format(v) : NF.upTo2.format(v);
      default: return NF.upTo2.format(v);
    }
  }

  /** Axis tick labels: compact above 10,000 (1.2M), whole percentages, no forced decimals. */
  function axisFmt(f) {
    return function (v) {
      if (typeof v !== 'number') return String(v);
      if (f === 'share') return NF.pctAxis.format(v);
      if (Math.abs(v) >= 10000) return NF.compact.format(v);
      // Ticks of a small scale (a PSI of 0.002) would all read 0 at two decimals.
      if (v !== 0 && Math.abs(v) < 0.01) return NF.sig2.format(v);
      return NF.upTo2.format(v);
    };
  }

  /** Escapes text for the HTML strings ECharts puts in its tooltips. */
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  }

  // ---------------------------------------------------------------- DOM helpers

  /** h('div', {class, text, dataset, onclick, ...attrs}, ...children): DOM without innerHTML. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const $ = (id) => document.getElementById(id);
  let uid = 0;
  const nextId = (prefix) => prefix + '-' + (++uid);
  const slug = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'data';

  function message(text, cls) {
    return h('div', { class: 'message ' + (cls || '') }, h('p', {}, text));
  }

  // ---------------------------------------------------------------- CSV and downloads

  // CSV as the server writes it (Rust csv crate defaults): quote only when needed, \n line ends,
  // numbers as their shortest round-trip text, null → empty.
  function csvCell(v) {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function csvText(header, rows) {
    return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
  }
  /** Blob + object URL + <a download>: works from file:// and under connect-src 'none'. */
  function download(blob, filename) {
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }
  /** Reasons for people: "recency +0.44; frequency −0.08". */
  function reasonsText(reasons) {
    return (reasons || []).map((r) => r.feature + ' ' + (r.contribution < 0 ? '\u2212' : '+') +
      Math.abs(r.contribution).toFixed(2)).join('; ');
  }
  /** Reasons in the CSV, as the server writes them (Rust `{:+.4}`): "recency +0.4400; frequency -0.0800". */
  function reasonsCsv(reasons) {
    return (reasons || []).map((r) => r.feature + ' ' + (r.contribution < 0 || Object.is(r.contribution, -0) ? '-' : '+') +
      Math.abs(r.contribution).toFixed(4)).join('; ');
  }
  function rowsCsv(rows) {
    return csvText(ROW_KEYS, rows.map((r) => ROW_KEYS.map((k) => (k === 'reasons' ? reasonsCsv(r.reasons) : r[k]))));
  }

  // ---------------------------------------------------------------- data sources

  class AuthError extends Error {}
  class ApiError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  async function apiFetch(path, token, asBlob) {
    const headers = { Accept: asBlob ? 'text/csv' : 'application/json' };
    const tok = token === undefined ? state.token : token;
    if (config.auth && tok) headers.Authorization = 'Bearer ' + tok;
    let resp;
    try {
      resp = await fetch(path, { headers, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError(0, 'the server could not be reached');
    }
    if (resp.status === 401) throw new AuthError('that token was refused');
    if (!resp.ok) {
      let msg = resp.status + ' ' + resp.statusText;
      try { msg = (await resp.json()).error.message || msg; } catch (e) { /* not JSON */ }
      throw new ApiError(resp.status, msg);
    }
    return asBlob ? resp.blob() : resp.json();
  }
  const enc = encodeURIComponent;
  function customerQuery(q, csv) {
    const p = new URLSearchParams();
    for (const k of ['segment', 'stage', 'min_churn_risk', 'min_value', 'sort', 'order']) {
      if (q[k] !== '' && q[k] !== null && q[k] !== undefined) p.set(k, q[k]);
    }
    if (csv) p.set('format', 'csv');
    else { p.set('limit', q.limit); p.set('offset', q.offset); }
    return p.toString();
  }

  /** Filter + sort of customer rows, the browser twin of the server's /customers query.
   *  min_value applies to historic_value (what the customer has spent); nulls sort last either way;
   *  ties by customer_id ascending. */
  function filterRows(rows, q) {
    const minRisk = q.min_churn_risk === '' || q.min_churn_risk == null ? null : Number(q.min_churn_risk);
    const minValue = q.min_value === '' || q.min_value == null ? null : Number(q.min_value);
    const out = rows.filter((r) => (!q.segment || r.segment === q.segment) && (!q.stage || r.stage === q.stage) &&
      (minRisk === null || r.churn_risk >= minRisk) && (minValue === null || r.historic_value >= minValue));
    const key = q.sort || 'value_at_risk';
    const dir = q.order === 'asc' ? 1 : -1;
    const cmpId = (a, b) => (a.customer_id < b.customer_id ? -1 : a.customer_id > b.customer_id ? 1 : 0);
    out.sort((a, b) => {
      const va = a[key], vb = b[key];
      if (va == null || vb == null) return va == null && vb == null ? cmpId(a, b) : va == null ? 1 : -1;
      if (va < vb) return -dir;
      if (va > vb) return dir;
      return key === 'customer_id' ? 0 : cmpId(a, b);
    });
    return out;
  }

  const embeddedSource = {
    analyses: async () => embedded.analyses || [],
    page: async (aid, name) => ((embedded.pages || {})[aid] || {})[name] || null,
    customers: async (aid, q) => {
      const all = ((embedded.customers || {})[aid] || { rows: [] });
      const rows = filterRows(all.rows || [], q);
      return { total: rows.length, rows: rows.slice(q.offset, q.offset + q.limit), held: (all.rows || []).length, overall: all.total };
    },
    customerPage: async (aid, cid) => ((embedded.customer_pages || {})[aid] || {})[cid] || null,
    exportCsv: async (aid, q) => {
      const all = ((embedded.customers || {})[aid] || { rows: [] });
      return new Blob([rowsCsv(filterRows(all.rows || [], q))], { type: 'text/csv' });
    },
    customerIds: (aid) => Object.keys((embedded.customer_pages || {})[aid] || {}),
  };
  const apiSource = {
    analyses: async () => (await apiFetch('/v1/analyses')).analyses || [],
    page: async (aid, name) => {
      try { return await apiFetch('/v1/analyses/' + enc(aid) + '/pages/' + enc(name)); } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    customers: (aid, q) => apiFetch('/v1/analyses/' + enc(aid) + '/customers?' + customerQuery(q, false)),
    customerPage: async (aid, cid) => {
      try { return await apiFetch('/v1/analyses/' + enc(aid) + '/customers/' + enc(cid)); } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
    exportCsv: (aid, q) => apiFetch('/v1/analyses/' + enc(aid) + '/customers?' + customerQuery(q, true), undefined, true),
    customerIds: () => [],
  };
  const source = EMBEDDED ? embeddedSource : apiSource;

  // ---------------------------------------------------------------- routing

  /** "#/customer/42?analysis=a1" → {page:'customer', arg:'42', analysis:'a1'}. */
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const qi = raw.indexOf('?');
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    const slash = path.indexOf('/');
    let arg = slash < 0 ? '' : path.slice(slash + 1);
    try { arg = decodeURIComponent(arg); } catch (e) { /* keep it raw */ }
    return { page: slash < 0 ? path : path.slice(0, slash), arg, analysis: params.get('analysis') };
  }
  /** Links carry ?analysis= only when there is a choice, so single-analysis URLs stay short. */
  function href(page, arg) {
    let s = '#/' + page + (arg ? '/' + enc(arg) : '');
    if (state.analyses.length > 1 && state.analysis) s += '?analysis=' + enc(state.analysis.analysis_id);
    return s;
  }

  async function route() {
    if (location.hash && !location.hash.startsWith('#/')) return;   // e.g. the skip link
    if (!EMBEDDED && config.auth && !state.token) return showSignIn();
    const navId = ++state.nav;
    window.__retainReady = false;
    state.navStart = performance.now();
    const r = parseHash();
    if (!state.analyses.length) {
      disposeCharts();
      showMain(message('No analyses are stored yet. Run an analysis, then reload this page.'));
      return markReady(navId, 'empty', []);
    }
    state.analysis = state.analyses.find((a) => a.analysis_id === r.analysis) || state.analyses[0];
    if (!r.page) {
      history.replaceState(null, '', href(defaultPage()));
      r.page = defaultPage();
    }
    renderChrome(r.page);
    const main = $('main');
    main.setAttribute('aria-busy', 'true');
    let view;
    try {
      view = await buildView(r);
    } catch (e) {
      if (navId !== state.nav) return;
      if (e instanceof AuthError) return showSignIn('Your token was refused; please sign in again.');
      view = { node: message('Could not load this page: ' + e.message, 'error'), pending: [] };
    }
    if (navId !== state.nav) return;
    disposeCharts();   // only now: the old page stays visible while the new one loads
    showMain(view.node);
    if (state.routed) {
      window.scrollTo(0, 0);
      const h1 = main.querySelector('h1');
      if (h1) h1.focus({ preventScroll: true });
    }
    state.routed = true;
    await markReady(navId, r.page, view.pending, view.after);
  }

  function defaultPage() {
    const pages = (state.analysis && state.analysis.pages) || [];
    return pages.includes('overview') || !pages.length ? 'overview' : pages[0];
  }

  function showMain(node) {
    const main = $('main');
    main.replaceChildren(node);
    main.removeAttribute('aria-busy');
  }

  /** Initialises the charts of the new view; ready once every one has fired `finished` (and the
   *  view's own first load, e.g. the at-risk list, is done). */
  async function markReady(navId, page, pending, after) {
    const done = pending.map((p) => renderChart(p.el, p.chart));
    if (after) done.push(after());
    await Promise.all(done);
    if (navId !== state.nav) return;
    document.body.dataset.page = page;
    // For the benchmark: milliseconds from the route to the last chart drawn (data included).
    window.__retainDrawnMs = performance.now() - state.navStart;
    window.__retainReady = true;
  }

  async function buildView(r) {
    const a = state.analysis;
    if (r.page === 'customer') return buildCustomerView(a, r.arg);
    const known = PAGES.find((p) => p.id === r.page);
    if (!known) return { node: message('There is no page “' + r.page + '”.'), pending: [] };
    if (!(a.pages || []).includes(r.page)) return { node: missingPage(a, known), pending: [] };
    const page = await source.page(a.analysis_id, r.page);
    if (!page) return { node: missingPage(a, known), pending: [] };
    if (r.page === 'at-risk') return buildAtRiskView(a, page);
    const pending = [];
    return { node: pageNode(page, pending), pending };
  }

  function missingPage(a, known) {
    return h('div', { class: 'page' },
      h('header', { class: 'page-head' }, h('h1', { tabindex: '-1' }, known.label)),
      message('This analysis (' + (a.source || a.name) + ') has no transaction log, so there is no ' +
        known.label.toLowerCase() + ' page for it.'));
  }

  // ---------------------------------------------------------------- chrome: header, picker, nav

  function renderChrome(current) {
    const a = state.analysis;
    $('nav').hidden = false;
    $('analysis-box').hidden = false;
    $('sign-out').hidden = EMBEDDED || !config.auth;
    $('brand').setAttribute('href', href(defaultPage()));
    const picker = $('analysis-picker');
    picker.hidden = state.analyses.length < 2;
    $('analysis-picker-label').hidden = state.analyses.length < 2;
    picker.replaceChildren(...state.analyses.map((x) =>
      h('option', { value: x.analysis_id, selected: x === a }, x.name + ' — ' + x.as_of)));
    const meta = [state.analyses.length < 2 ? a.name : null, 'as of ' + a.as_of,
      NF.int.format(a.customers || 0) + ' customers'].filter(Boolean).join(' · ');
    $('analysis-meta').textContent = meta;
    $('nav-list').replaceChildren(...PAGES.map((p) => {
      const has = p.id === 'customer' || (a.pages || []).includes(p.id);
      return h('li', {}, h('a', {
        href: href(p.id), class: has ? '' : 'unavailable', 'aria-current': p.id === current ? 'page' : null,
        title: has ? null : 'Not available for this analysis',
      }, p.label));
    }));
    document.title = (PAGES.find((p) => p.id === current) || { label: 'retain' }).label + ' · ' + a.name + ' · retain';
  }

  // ---------------------------------------------------------------- generic page renderer

  function pageHead(page) {
    return h('header', { class: 'page-head' },
      h('h1', { tabindex: '-1' }, page.title || ''),
      page.subtitle ? h('p', { class: 'subtitle' }, page.subtitle) : null,
      (page.notes || []).length ? h('ul', { class: 'notes' }, page.notes.map((n) => h('li', {}, n))) : null);
  }

  /** A Page: title block + a grid of panels. Charts are queued in `pending` (they need layout). */
  function pageNode(page, pending) {
    return h('div', { class: 'page' }, pageHead(page), panelGrid(page.panels || [], pending));
  }
  function panelGrid(panels, pending) {
    return h('div', { class: 'panels' }, panels.map((p) => panelNode(p, pending)));
  }

  function panelNode(panel, pending) {
    const hid = nextId('panel-' + slug(panel.id));
    const chart = panel.chart;
    const head = h('div', { class: 'panel-head' }, h('h2', { id: hid }, panel.title || panel.id),
      panel.table ? h('button', {
        type: 'button', class: 'button small ghost', 'aria-label': 'Download CSV: ' + (panel.title || panel.id),
        onclick: () => download(new Blob([tableCsv(panel.table)], { type: 'text/csv' }), csvName(panel.id)),
      }, 'Download CSV') : null);
    const sec = h('section', { class: 'panel ' + (panel.width === 'half' ? 'half' : 'full'), 'aria-labelledby': hid }, head);
    if (chart && chart.kind === 'kpis') {
      append(sec, [kpiTiles(panel)]);
    } else if (chart) {
      const el = h('div', {
        class: 'chart chart-' + chart.kind, role: 'img', 'aria-label': panel.alt || panel.title,
        dataset: { panel: panel.id, kind: chart.kind },
      });
      el.style.height = chartHeight(chart) + 'px';
      pending.push({ el, chart });
      sec.append(el);
    }
    if (panel.caption) sec.append(h('p', { class: 'caption' }, panel.caption));
    if (panel.table) sec.append(tableDetails(panel, !chart));
    return sec;
  }

  function csvName(id) {
    return slug((state.analysis ? state.analysis.analysis_id + '-' : '') + id) + '.csv';
  }

  function tableCsv(t) {
    return csvText((t.columns || []).map((c) => c.label || c.key), t.rows || []);
  }

  /** "Show table": a real <table> (caption, th scope=col); first 100 rows, the CSV has all. */
  function tableDetails(panel, open) {
    const t = panel.table;
    const rows = t.rows || [];
    const cols = t.columns || [];
    const table = h('table', { class: 'data' },
      h('caption', { class: 'sr-only' }, panel.title || panel.id),
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: NUMERIC[c.format] ? 'num' : null }, c.label || c.key)))),
      h('tbody', {}, rows.slice(0, PAGE_SIZE).map((r) => h('tr', {}, cols.map((c, i) =>
        h('td', { class: NUMERIC[c.format] ? 'num' : null }, fmt(r[i], c.format)))))));
    return h('details', { class: 'table-details', open },
      h('summary', {}, open ? 'Table' : 'Show table', h('span', { class: 'count' }, ' (' + NF.int.format(rows.length) + ' rows)')),
      h('div', { class: 'table-scroll' }, table),
      rows.length > PAGE_SIZE ? h('p', { class: 'table-note' },
        'Showing the first ' + PAGE_SIZE + ' of ' + NF.int.format(rows.length) + ' rows; the CSV has all of them.') : null);
  }

  // ---------------------------------------------------------------- KPI tiles (DOM, no ECharts)

  function kpiTiles(panel) {
    const items = panel.chart.items || [];
    const tiles = h('div', { class: 'kpis', role: 'list', dataset: { panel: panel.id, kind: 'kpis' } },
      items.map((it) => h('div', { class: 'kpi', role: 'listitem' },
        h('div', { class: 'kpi-label' }, it.label),
        h('div', { class: 'kpi-value' }, fmt(it.value, it.format)),
        kpiChange(it))));
    // One legend line instead of "vs previous" in every tile (tiles stay one line tall).
    const anyChange = items.some((it) => it.previous != null && it.value != null);
    return anyChange ? [tiles, h('p', { class: 'kpi-note', 'aria-hidden': 'true' }, '▲▼ change since the previous analysis; green is better, red is worse.')] : tiles;
  }

  /** Change since `previous`: percentage points for shares, else the difference and its %. */
  function kpiChange(it) {
    if (it.previous == null || it.value == null) return h('div', { class: 'kpi-change' });
    const d = it.value - it.previous;
    const sign = d > 0 ? '+' : d < 0 ? '\u2212' : '±';
    let text;
    if (it.format === 'share') text = sign + NF.pp.format(Math.abs(d) * 100) + ' pp';
    else {
      text = sign + fmt(Math.abs(d), it.format);
      if (it.previous !== 0) text += ' (' + sign + NF.pct1.format(Math.abs(d / it.previous)) + ')';
    }
    const cls = d === 0 ? 'flat' : (d > 0) === (it.better !== 'down') ? 'good' : 'bad';
    return h('div', { class: 'kpi-change ' + cls },
      h('span', { 'aria-hidden': 'true' }, d > 0 ? '▲ ' : d < 0 ? '▼ ' : ''),
      text, h('span', { class: 'sr-only' }, ' since the previous analysis' + (cls === 'good' ? ' (better)' : cls === 'bad' ? ' (worse)' : '')));
  }

  // ---------------------------------------------------------------- charts (ECharts)

  function chartHeight(c) {
    const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
    if (c.kind === 'heatmap') return clamp((c.y || []).length * 22 + 120, 260, 640);
    if (c.kind === 'bar' && c.horizontal) {
      const per = c.stacked ? 1 : Math.max(1, (c.series || []).length);
      return clamp((c.categories || []).length * (14 + 8 * per) + 100, 200, 640);
    }
    if (c.kind === 'scatter') return 380;
    return 320;
  }

  const BUILDERS = { bar: barOption, line: lineOption, heatmap: heatmapOption, scatter: scatterOption };

  /** Creates the instance, applies the option, resolves on the first `finished` event. */
  function renderChart(el, chart) {
    const build = BUILDERS[chart.kind];
    if (!build) {
      el.replaceChildren(h('p', { class: 'message' }, 'Unknown chart kind “' + chart.kind + '”.'));
      return Promise.resolve();
    }
    const inst = echarts.init(el, null, { renderer: EMBEDDED ? 'svg' : 'canvas' });
    state.charts.push(inst);
    const done = new Promise((resolve) => inst.on('finished', function once() { inst.off('finished', once); resolve(); }));
    const option = build(chart, { width: el.clientWidth || 600 });
    option.aria = { enabled: true, label: { description: el.getAttribute('aria-label') || '' } };
    inst.setOption(option);
    // ECharts sets its own aria-label on the container; keep the server's text alternative.
    el.setAttribute('role', 'img');
    return done;
  }

  function disposeCharts() {
    for (const c of state.charts) c.dispose();
    state.charts = [];
  }

  const measure = document.createElement('canvas').getContext('2d');
  function textWidth(s, px) {
    measure.font = px + 'px ' + FONT;
    return measure.measureText(String(s)).width;
  }

  /** A plain legend, right-aligned, wrapping onto as many rows as the names need (a scrolling
   *  legend hides names); returns the option and its height so the grid can start below it. */
  function legendFor(names, width) {
    if (names.length < 2) return { legend: { show: false }, height: 0 };
    let rows = 1, x = 0;
    for (const n of names) {
      const w = 14 + 5 + textWidth(n, 12) + 12;
      if (x > 0 && x + w > width - 8) { rows++; x = w; } else x += w;
    }
    return {
      legend: { type: 'plain', top: 0, right: 0, icon: 'roundRect', itemWidth: 14, itemHeight: 8, itemGap: 12,
        data: names, textStyle: { color: INK, fontSize: 12 } },
      height: rows * 22,
    };
  }

  /** Options shared by every chart: no animation (calm, deterministic), our palette and font. */
  function base(c, ctx, extra) {
    const lg = legendFor([...new Set((c.series || []).map((s) => s.name))], ctx.width);
    return Object.assign({
      animation: false,
      color: PALETTE,
      textStyle: { fontFamily: FONT, color: INK, fontSize: 12 },
      // outerBoundsMode 'same': the grid box includes axis labels and names (ECharts 6 layout).
      grid: { left: 4, right: 16, top: lg.height ? lg.height + 10 : 14, bottom: 4, outerBoundsMode: 'same', outerBoundsContain: 'all' },
      legend: lg.legend,
      tooltip: tooltip({}),
    }, extra);
  }
  function tooltip(extra) {
    return Object.assign({ confine: true, backgroundColor: '#fff', borderColor: '#d5dbe1', textStyle: { color: INK, fontSize: 12 } }, extra);
  }

  function valueAxis(name, f, extra) {
    return Object.assign({
      type: 'value', name: name || '', nameLocation: 'end', nameGap: 10,
      nameTextStyle: { color: MUTED, align: 'left', padding: [0, 0, 0, -4] },
      axisLabel: { color: MUTED, formatter: axisFmt(f), hideOverlap: true },
      splitLine: { lineStyle: { color: GRID } },
    }, extra);
  }
  function bottomAxis(type, name, extra) {
    return Object.assign({
      type, name: name || '', nameLocation: 'middle', nameGap: 28, nameTextStyle: { color: MUTED },
      axisLabel: { color: MUTED, hideOverlap: true },
      axisLine: { lineStyle: { color: '#b8c2cc' } }, axisTick: { lineStyle: { color: '#b8c2cc' } },
    }, extra);
  }

  /** bar: x_label names the category axis and y_label the value axis, whatever the orientation. */
  function barOption(c, ctx) {
    const f = c.format;
    const cats = c.categories || [];
    // Few categories: show every label, wrapped to its slot; many: rotate long ones, skip overlaps.
    const slot = (ctx.width - 70) / Math.max(1, cats.length);
    const longest = Math.max(0, ...cats.map((s) => textWidth(s, 12)));
    const catLabel = cats.length <= 12
      ? { color: MUTED, interval: 0, width: Math.max(36, slot - 6), overflow: 'break', rotate: 0 }
      : { color: MUTED, hideOverlap: true, rotate: longest > slot ? 35 : 0 };
    const catAxis = c.horizontal
      ? { type: 'category', data: cats, inverse: true, name: c.x_label || '', nameLocation: 'start', nameGap: 8,
        nameTextStyle: { color: MUTED, align: 'right' },
        axisLabel: { color: INK, width: 160, overflow: 'truncate' }, axisTick: { show: false },
        axisLine: { onZero: false, lineStyle: { color: '#b8c2cc' } } }
      : bottomAxis('category', c.x_label, { data: cats, axisLabel: catLabel, axisLine: { onZero: false, lineStyle: { color: '#b8c2cc' } } });
    // (onZero:false: with negative values the category axis stays at the edge, not across the bars)
    const valAxis = c.horizontal
      ? bottomAxis('value', c.y_label, { axisLabel: { color: MUTED, formatter: axisFmt(f), hideOverlap: true },
        splitLine: { lineStyle: { color: GRID } }, axisLine: { show: false } })
      : valueAxis(c.y_label, f);
    const radius = c.stacked ? 0 : c.horizontal ? [0, 3, 3, 0] : [3, 3, 0, 0];
    return base(c, ctx, {
      xAxis: c.horizontal ? valAxis : catAxis,
      yAxis: c.horizontal ? catAxis : valAxis,
      tooltip: tooltip({ trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => fmt(v, f) }),
      series: (c.series || []).map((s) => ({
        type: 'bar', name: s.name, data: s.values, stack: c.stacked ? 'total' : undefined,
        barMaxWidth: 44, itemStyle: { borderRadius: radius }, emphasis: { focus: 'series' },
        progressive: 0, large: false,
      })),
    });
  }

  /** line: x pairs for value/time axes; a band = two stacked invisible-line series under the line;
   *  markers = dashed vertical markLines. Every point gets a (small) symbol so it is one drawn mark. */
  function lineOption(c, ctx) {
    const f = c.format;
    const xType = c.x_type || 'category';
    const xs = c.x || [];
    const pairs = (vals) => (xType === 'category' ? vals : xs.map((x, k) => [x, vals[k]]));
    const series = [];
    const bands = {};
    (c.series || []).forEach((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      const main = {
        id: 'm' + i, type: 'line', name: s.name, data: pairs(s.values || []), step: s.step ? 'end' : false,
        symbol: 'circle', symbolSize: xs.length > 60 ? 3 : 5, showSymbol: true, showAllSymbol: true,
        connectNulls: false, color, z: 3, progressive: 0,
        lineStyle: { width: 2, type: s.dashed ? [6, 4] : 'solid' }, emphasis: { focus: 'series' },
      };
      if (i === 0 && (c.markers || []).length) main.markLine = markers(c.markers);
      series.push(main);
      if (s.lower && s.upper) {
        bands[i] = s;
        // Same name as the line, so the legend toggles line and band together.
        const common = { type: 'line', name: s.name, stack: 'band' + i, stackStrategy: 'all', symbol: 'none',
          showSymbol: false, silent: true, lineStyle: { opacity: 0 }, step: s.step ? 'end' : false, z: 1, progressive: 0,
          emphasis: { disabled: true }, tooltip: { show: false } };
        series.push(Object.assign({ id: 'l' + i, data: pairs(s.lower) }, common));
        series.push(Object.assign({ id: 'b' + i, data: pairs(s.upper.map((u, k) => (u == null || s.lower[k] == null ? null : u - s.lower[k]))),
          areaStyle: { color, opacity: 0.14 } }, common));
      }
    });
    const yExtra = {};
    if (c.y_min != null) yExtra.min = c.y_min;
    if (c.y_max != null) yExtra.max = c.y_max;
    const xExtra = xType === 'category' ? { data: xs, boundaryGap: false }
      : xType === 'time' ? { min: 'dataMin', max: 'dataMax', splitNumber: Math.max(3, Math.round(ctx.width / 130)), splitLine: { show: false },
        axisLabel: { color: MUTED, hideOverlap: true, formatter: { year: '{yyyy}', month: '{MMM}', day: '{MMM} {d}' } } }
        : { splitLine: { show: false } };
    return base(c, ctx, {
      xAxis: bottomAxis(xType, c.x_label, xExtra),
      yAxis: valueAxis(c.y_label, f, yExtra),
      tooltip: tooltip({
        trigger: 'axis',
        formatter: (params) => {
          const value = (p) => (Array.isArray(p.value) ? p.value[1] : p.value);
          const list = (Array.isArray(params) ? params : [params])
            .filter((p) => String(p.seriesId).startsWith('m') && value(p) != null);
          if (!list.length) return '';
          const x = list[0].axisValue;
          const head = (c.x_label ? c.x_label + ': ' : '') + (xType === 'value' ? NF.upTo2.format(x) : list[0].axisValueLabel);
          const lines = list.map((p) => {
            const i = Number(String(p.seriesId).slice(1));
            const v = value(p);
            const b = bands[i];
            const range = b && b.lower[p.dataIndex] != null && b.upper[p.dataIndex] != null
              ? ' (' + esc(fmt(b.lower[p.dataIndex], f)) + ' – ' + esc(fmt(b.upper[p.dataIndex], f)) + ')' : '';
            return p.marker + esc(p.seriesName) + ': <b>' + esc(fmt(v, f)) + '</b>' + range;
          });
          return esc(head) + '<br>' + lines.join('<br>');
        },
      }),
      series,
    });
  }

  function markers(list) {
    return {
      silent: true, symbol: ['none', 'none'], animation: false,
      lineStyle: { type: 'dashed', color: '#7b8794', width: 1 },
      // along the line, inside the plot: horizontal labels above it would collide with the y axis name
      label: { show: list.length <= 4, formatter: '{b}', position: 'insideEndTop', color: '#52606d', fontSize: 11,
        backgroundColor: 'rgba(255,255,255,0.85)', padding: [1, 3] },
      data: list.map((m) => ({ name: m.label || '', xAxis: m.x })),
    };
  }

  /** heatmap: rows top-down in the given order (like a table); visualMap legend under the grid. */
  function heatmapOption(c, ctx) {
    const f = c.format;
    const cells = c.cells || [];
    const xs = c.x || [], ys = c.y || [];
    const showLabels = cells.length <= 150 && xs.length <= 16;
    return base(c, ctx, {
      grid: { left: 4, right: 16, top: 4, bottom: 44, outerBoundsMode: 'same', outerBoundsContain: 'all' },
      xAxis: bottomAxis('category', c.x_label, { data: xs, splitArea: { show: false }, axisTick: { show: false },
        axisLine: { show: false } }),
      yAxis: { type: 'category', data: ys, inverse: true, name: c.y_label || '', nameLocation: 'start', nameGap: 8,
        nameTextStyle: { color: MUTED, align: 'left' }, axisLabel: { color: MUTED, hideOverlap: true },
        axisTick: { show: false }, axisLine: { show: false } },
      visualMap: {
        type: 'continuous', min: c.min, max: c.max, calculable: false, orient: 'horizontal', left: 'center', bottom: 0,
        itemWidth: 10, itemHeight: 220, inRange: { color: HEAT }, textStyle: { color: MUTED, fontSize: 11 },
        formatter: axisFmt(f), text: [axisFmt(f)(c.max), axisFmt(f)(c.min)], showLabel: true,
      },
      tooltip: tooltip({
        trigger: 'item',
        formatter: (p) => esc((c.y_label ? c.y_label + ' ' : '') + ys[p.value[1]]) + '<br>' +
          esc((c.x_label ? c.x_label + ' ' : '') + xs[p.value[0]]) + '<br><b>' + esc(fmt(p.value[2], f)) + '</b>',
      }),
      series: [{
        type: 'heatmap', data: cells, progressive: 0,
        itemStyle: { borderColor: '#fff', borderWidth: cells.length > 900 ? 0.5 : 1 },
        label: { show: showLabels, fontSize: 10, formatter: (p) => fmt(p.value[2], f) },
        emphasis: { itemStyle: { borderColor: '#1f2933', borderWidth: 1 } },
      }],
    });
  }

  /** scatter: one colour per series; never `large` (one graphic element per point). */
  function scatterOption(c, ctx) {
    const n = (c.series || []).reduce((s, x) => s + (x.points || []).length, 0);
    const axis = (log, f, name, bottom) => Object.assign(
      bottom ? bottomAxis(log ? 'log' : 'value', name, { splitLine: { lineStyle: { color: GRID } } }) : valueAxis(name, f),
      { type: log ? 'log' : 'value', scale: !log, axisLabel: { color: MUTED, formatter: axisFmt(f), hideOverlap: true } });
    return base(c, ctx, {
      xAxis: axis(c.x_log, c.format_x, c.x_label, true),
      yAxis: axis(c.y_log, c.format_y, c.y_label, false),
      tooltip: tooltip({
        trigger: 'item',
        formatter: (p) => p.marker + esc(p.seriesName) + '<br>' + esc(c.x_label || 'x') + ': <b>' + esc(fmt(p.value[0], c.format_x)) +
          '</b><br>' + esc(c.y_label || 'y') + ': <b>' + esc(fmt(p.value[1], c.format_y)) + '</b>',
      }),
      series: (c.series || []).map((s) => ({
        type: 'scatter', name: s.name, data: s.points, symbolSize: n > 600 ? 5 : 7, large: false, progressive: 0,
        itemStyle: { opacity: 0.7 }, emphasis: { focus: 'series' },
      })),
    });
  }

  // ---------------------------------------------------------------- at-risk page

  function field(label, control) {
    return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  }
  function select(id, options, value) {
    return h('select', { id }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
  }

  function buildAtRiskView(a, page) {
    const pending = [];
    const filters = page.filters || {};
    const q = { segment: '', stage: '', min_churn_risk: '', min_value: '', sort: 'value_at_risk', order: 'desc', limit: PAGE_SIZE, offset: 0 };
    const form = h('form', { class: 'filters', id: 'at-risk-form', 'aria-label': 'Filter customers' },
      field('Segment', select('at-risk-segment', [['', 'All segments'], ...(filters.segments || []).map((s) => [s, s])], '')),
      field('Stage', select('at-risk-stage', [['', 'All stages'], ...(filters.stages || []).map((s) => [s, s])], '')),
      field('Min churn risk (0–1)', h('input', { id: 'at-risk-min-risk', type: 'number', min: '0', max: '1', step: 'any', inputmode: 'decimal', placeholder: 'e.g. 0.5' })),
      field('Min historic value', h('input', { id: 'at-risk-min-value', type: 'number', min: '0', step: 'any', inputmode: 'decimal', placeholder: 'e.g. 100' })),
      field('Sort by', select('at-risk-sort', SORTS, 'value_at_risk')),
      field('Order', select('at-risk-order', [['desc', 'Highest first'], ['asc', 'Lowest first']], 'desc')),
      h('div', { class: 'field actions' }, h('button', { type: 'submit', class: 'button primary', id: 'at-risk-apply' }, 'Apply')));
    const count = h('p', { id: 'at-risk-count', class: 'count-line', 'aria-live': 'polite' });
    const scope = h('p', { class: 'scope-note' });
    const tbody = h('tbody');
    const table = h('table', { class: 'data customers', id: 'at-risk-table' },
      h('caption', { class: 'sr-only' }, 'Customers matching the filters'),
      h('thead', {}, h('tr', {}, [['Customer', ''], ['Segment', ''], ['Stage', ''], ['Churn risk', 'num'], ['P(alive)', 'num'],
        ['Exp. purchases', 'num'], ['CLV', 'num'], ['Historic value', 'num'], ['Value at risk', 'num'], ['Next purchase', ''],
        ['Main reasons', 'reasons']].map(([t, cls]) => h('th', { scope: 'col', class: cls || null }, t)))),
      tbody);
    const prev = h('button', { type: 'button', class: 'button', id: 'at-risk-prev' }, '← Previous');
    const next = h('button', { type: 'button', class: 'button', id: 'at-risk-next' }, 'Next →');
    const pos = h('span', { class: 'pager-pos', 'aria-live': 'polite' });
    const exportBtn = h('button', { type: 'button', class: 'button', id: 'at-risk-export' }, 'Export CSV');
    const status = h('p', { class: 'form-error', role: 'alert' });
    // A report embeds customer pages for a few customers only: link just those.
    const pageIds = new Set(source.customerIds(a.analysis_id));
    const withPage = (id) => !EMBEDDED || pageIds.has(String(id));

    async function load() {
      table.setAttribute('aria-busy', 'true');
      status.textContent = '';
      try {
        const res = await source.customers(a.analysis_id, q);
        fill(res);
      } catch (e) {
        if (e instanceof AuthError) return showSignIn('Your token was refused; please sign in again.');
        status.textContent = 'Could not load customers: ' + e.message;
      } finally {
        table.removeAttribute('aria-busy');
      }
    }
    function fill(res) {
      const total = res.total || 0;
      count.textContent = NF.int.format(total) + (total === 1 ? ' customer matches' : ' customers match');
      count.dataset.count = String(total);
      scope.textContent = res.held != null && res.overall > res.held
        ? 'This report holds the ' + NF.int.format(res.held) + ' customers with the highest value at risk (of ' +
          NF.int.format(res.overall) + '); filters apply to those.' : '';
      tbody.replaceChildren(...(res.rows || []).map((r) => customerRow(r, withPage)));
      if (!(res.rows || []).length) tbody.append(h('tr', {}, h('td', { colspan: '11', class: 'empty' }, 'No customers match these filters.')));
      const from = total ? q.offset + 1 : 0;
      pos.textContent = 'Rows ' + NF.int.format(from) + '–' + NF.int.format(q.offset + (res.rows || []).length) + ' of ' + NF.int.format(total);
      prev.disabled = q.offset === 0;
      next.disabled = q.offset + PAGE_SIZE >= total;
    }
    function readForm() {
      q.segment = $('at-risk-segment').value;
      q.stage = $('at-risk-stage').value;
      q.min_churn_risk = $('at-risk-min-risk').value.trim();
      q.min_value = $('at-risk-min-value').value.trim();
      q.sort = $('at-risk-sort').value;
      q.order = $('at-risk-order').value;
    }
    form.addEventListener('submit', (ev) => { ev.preventDefault(); readForm(); q.offset = 0; load(); });
    prev.addEventListener('click', () => { q.offset = Math.max(0, q.offset - PAGE_SIZE); load(); });
    next.addEventListener('click', () => { q.offset += PAGE_SIZE; load(); });
    exportBtn.addEventListener('click', async () => {
      exportBtn.disabled = true;
      try {
        download(await source.exportCsv(a.analysis_id, q), slug(a.analysis_id + '-at-risk') + '.csv');
      } catch (e) {
        if (e instanceof AuthError) return showSignIn('Your token was refused; please sign in again.');
        status.textContent = 'Could not export: ' + e.message;
      } finally {
        exportBtn.disabled = false;
      }
    });

    const list = h('section', { class: 'panel full list-panel', 'aria-labelledby': 'at-risk-heading' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'at-risk-heading' }, 'Customers'), exportBtn),
      form, status, h('div', { class: 'list-meta' }, count, scope),
      h('div', { class: 'table-scroll tall' }, table),
      h('div', { class: 'pager' }, prev, pos, next));
    const node = h('div', { class: 'page' }, pageHead(page), h('div', { class: 'panels' }, list),
      (page.panels || []).length ? panelGrid(page.panels, pending) : null);
    return { node, pending, after: load };
  }

  function customerRow(r, withPage) {
    const risk = h('span', { class: 'risk-bar', 'aria-hidden': 'true' }, h('span'));  // a glanceable bar; the % is the value
    risk.firstChild.style.width = Math.round(Math.max(0, Math.min(1, r.churn_risk || 0)) * 100) + '%';
    return h('tr', {},
      h('td', {}, withPage(r.customer_id) ? h('a', { href: href('customer', String(r.customer_id)) }, String(r.customer_id)) : String(r.customer_id)),
      h('td', {}, fmt(r.segment)), h('td', {}, fmt(r.stage)),
      h('td', { class: 'num' }, risk, fmt(r.churn_risk, 'share')),
      h('td', { class: 'num' }, fmt(r.p_alive, 'share')),
      h('td', { class: 'num' }, fmt(r.expected_purchases, 'number')),
      h('td', { class: 'num' }, fmt(r.clv, 'money')),
      h('td', { class: 'num' }, fmt(r.historic_value, 'money')),
      h('td', { class: 'num strong' }, fmt(r.value_at_risk, 'money')),
      h('td', { class: 'date' }, fmt(r.next_purchase, 'date')),
      h('td', { class: 'reasons' }, reasonsText(r.reasons) || '–'));
  }

  // ---------------------------------------------------------------- customer page

  async function buildCustomerView(a, cid) {
    const input = h('input', { id: 'customer-id', type: 'search', value: cid || '', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'e.g. 01234' });
    const form = h('form', { class: 'search', role: 'search', 'aria-label': 'Find a customer' },
      h('label', { for: 'customer-id' }, 'Customer ID'), input,
      h('button', { type: 'submit', class: 'button primary', id: 'customer-go' }, 'Show'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (v) location.hash = href('customer', v);
    });
    const ids = source.customerIds(a.analysis_id);
    const known = ids.length ? h('p', { class: 'scope-note' },
      'This report has pages for ' + NF.int.format(ids.length) + ' customers' + (ids.length <= 30 ? ': ' : '.'),
      ids.length <= 30 ? ids.map((id, i) => [i ? ', ' : '', h('a', { href: href('customer', id) }, id)]) : null) : null;
    const top = h('div', { class: 'panel full search-panel' }, form, known);
    if (!cid) {
      return { node: h('div', { class: 'page' }, h('header', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Customer lookup'),
        h('p', { class: 'subtitle' }, 'Enter a customer ID to see their history, churn risk and expected value.')), top), pending: [] };
    }
    const page = await source.customerPage(a.analysis_id, cid);
    if (!page) {
      return { node: h('div', { class: 'page' }, h('header', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Customer lookup')),
        top, message('No customer “' + cid + '” in this analysis' + (EMBEDDED ? ' report.' : '.'))), pending: [] };
    }
    const pending = [];
    return { node: h('div', { class: 'page' }, pageHead(page), top, panelGrid(page.panels || [], pending)), pending };
  }

  // ---------------------------------------------------------------- sign-in (api mode)

  /** The sign-in form (api mode with auth). `info`: the message is not an error (e.g. signed out). */
  function showSignIn(msg, info) {
    state.nav++;
    disposeCharts();
    state.token = null;
    state.analyses = [];
    sessionStorage.removeItem(TOKEN_KEY);
    $('nav').hidden = true;
    $('analysis-box').hidden = true;
    $('sign-out').hidden = true;
    const input = h('input', { id: 'signin-token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
    const err = h('p', { id: 'signin-error', class: info ? 'form-info' : 'form-error', role: 'alert' }, msg || '');
    const button = h('button', { type: 'submit', class: 'button primary', id: 'signin-submit' }, 'Sign in');
    const form = h('form', { id: 'signin-form', class: 'signin', 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in'),
      h('p', { class: 'subtitle' }, 'Enter an API token with read scope. It is kept for this browser tab only.'),
      h('label', { for: 'signin-token' }, 'API token'), input, err, button);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const tok = input.value.trim();
      if (!tok) return;
      const btn = button;
      btn.disabled = true;
      err.textContent = '';
      err.className = 'form-error';
      try {
        const res = await apiFetch('/v1/analyses', tok);
        state.token = tok;
        sessionStorage.setItem(TOKEN_KEY, tok);
        state.analyses = res.analyses || [];
        input.value = '';
        state.routed = false;
        route();
      } catch (e) {
        err.textContent = e instanceof AuthError ? 'That token was refused.' : 'Could not sign in: ' + e.message;
        btn.disabled = false;
        input.focus();
      }
    });
    showMain(h('div', { class: 'page signin-page' }, form));
    input.focus();
    document.body.dataset.page = 'sign-in';
    window.__retainReady = true;
  }

  // ---------------------------------------------------------------- start-up

  async function start() {
    window.addEventListener('hashchange', route);
    let t = 0;
    window.addEventListener('resize', () => { clearTimeout(t); t = setTimeout(() => state.charts.forEach((c) => c.resize()), 120); });
    $('analysis-picker').addEventListener('change', (ev) => {
      const page = parseHash().page || 'overview';
      state.analysis = state.analyses.find((a) => a.analysis_id === ev.target.value) || state.analysis;
      location.hash = href(page === 'customer' ? 'customer' : page);
    });
    $('sign-out').addEventListener('click', () => showSignIn('Signed out.', true));
    $('skip-link').addEventListener('click', (ev) => { ev.preventDefault(); $('main').focus(); });
    if (EMBEDDED && !embedded) {
      showMain(message('The report data is missing or unreadable.', 'error'));
      return;
    }
    if (!EMBEDDED && config.auth) {
      state.token = sessionStorage.getItem(TOKEN_KEY);
      if (!state.token) return showSignIn();
    }
    try {
      state.analyses = await source.analyses();
    } catch (e) {
      if (e instanceof AuthError) return showSignIn('Your token was refused; please sign in again.');
      showMain(message('Could not load the analyses: ' + e.message, 'error'));
      return;
    }
    route();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
