/* The /dashboard page: reads /market/stats/* (anonymously, or with a statistician's token from /auth/token) and
 * draws it with the vendored ECharts. No framework, no inline script (CSP script-src 'self').
 * Every amount shown carries its exact value: data-fen on the element and the title (hover), and the chart
 * containers keep their series as data-series (JSON of [key, contract fen, technology fen, count]). When every
 * chart has rendered, body[data-ready] becomes "1" and body[data-renders] counts the renders. */
"use strict";

(function () {
  const STATS = "/market/stats";
  const FEN_PER_YI = 10000000000; // 1亿元 = 10^8 yuan = 10^10 fen
  const FEN_PER_WAN = 1000000;
  const METRICS = {
    contract_amount: "合同成交额",
    technology_amount: "技术交易额",
    contract_count: "合同数",
    demonstration_institutions: "示范机构",
    certified_brokers: "持证技术经纪人",
  };
  const AMOUNT_METRICS = new Set(["contract_amount", "technology_amount"]);
  const DEMO_TARGET = 100; // the action plan's 100 demonstration institutions, unless a target says otherwise

  const state = { token: null, email: null, charts: {}, since: null, renders: 0, optionsFilled: false };
  const $ = (id) => document.getElementById(id);

  // ---- numbers -------------------------------------------------------------------------------------------------
  function groupDigits(text) {
    return text.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }
  /** The exact value of an integer fen amount, as "1,234.56 元（123456 分）" (string arithmetic, no float). */
  function exactFen(fen) {
    const negative = fen < 0;
    const digits = String(Math.abs(fen)).padStart(3, "0");
    const yuan = groupDigits(digits.slice(0, -2)) + "." + digits.slice(-2);
    return (negative ? "-" : "") + yuan + " 元（" + String(fen) + " 分）";
  }
  /** An API decimal string cut (not rounded) to two places. */
  function cut2(decimal) {
    const [whole, frac = ""] = String(decimal).split(".");
    return groupDigits(whole) + "." + (frac + "00").slice(0, 2);
  }
  /** An integer fen amount as an exact decimal string in units of 10^exp fen (10 for 亿元, 6 for 万元). */
  function decimalOf(fen, exp) {
    const digits = String(Math.abs(fen)).padStart(exp + 1, "0");
    return (fen < 0 ? "-" : "") + digits.slice(0, -exp) + "." + digits.slice(-exp);
  }
  /** 亿元 at and above one 亿, else 万元, from the API's exact decimal strings. */
  function shortAmount(fen, yi, wan) {
    if (Math.abs(fen) >= FEN_PER_YI) return cut2(yi) + " 亿元";
    return cut2(wan) + " 万元";
  }
  function setAmount(el, fen, yi, wan) {
    el.textContent = shortAmount(fen, yi, wan);
    el.dataset.fen = String(fen);
    el.title = "精确值：" + exactFen(fen);
  }
  function setCount(el, count) {
    el.textContent = groupDigits(String(count));
    el.dataset.count = String(count);
    el.title = "精确值：" + count;
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function todayInChina() {
    return new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  }

  // ---- HTTP ----------------------------------------------------------------------------------------------------
  class HttpError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || "HTTP " + status);
      this.status = status;
    }
  }
  async function getJson(path) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const response = await fetch(path, { headers });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new HttpError(response.status, body);
    return body;
  }
  function filterParams() {
    const params = new URLSearchParams();
    if (!state.token) return params;
    const pairs = [["from", "f-from"], ["to", "f-to"], ["seller_region", "f-region"], ["technical_field", "f-field"], ["kind", "f-kind"]];
    for (const [name, id] of pairs) {
      const value = $(id).value;
      if (value) params.set(name, value);
    }
    return params;
  }
  function breakdown(groupBy, extra) {
    const params = filterParams();
    if (!params.has("from") && state.since) params.set("from", state.since);
    if (groupBy) params.set("group_by", groupBy);
    for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
    return getJson(STATS + "/contracts?" + params.toString());
  }

  // ---- notices -------------------------------------------------------------------------------------------------
  function notice(text, isError) {
    const el = $("notice");
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
    el.hidden = !text;
  }

  // ---- charts --------------------------------------------------------------------------------------------------
  function emptyBox(id, text) {
    const box = $(id);
    if (state.charts[id]) {
      state.charts[id].dispose();
      delete state.charts[id];
    }
    box.innerHTML = "";
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = text || "暂无数据";
    box.appendChild(p);
    box.dataset.series = "[]";
    return Promise.resolve();
  }
  /** Draw ``option`` into the box; resolves when ECharts reports the frame finished. */
  function draw(id, option, series) {
    const box = $(id);
    box.dataset.series = JSON.stringify(series || []);
    let chart = state.charts[id];
    if (!chart) {
      box.innerHTML = "";
      chart = window.echarts.init(box, null, { renderer: "canvas" });
      state.charts[id] = chart;
    }
    return new Promise((resolve) => {
      chart.off("finished");
      chart.on("finished", () => {
        chart.off("finished");
        resolve();
      });
      chart.setOption({ animation: false, ...option }, true);
    });
  }
  function unitOf(rows) {
    const top = Math.max(0, ...rows.map((r) => Math.abs(r.contract_amount_fen)));
    return top >= FEN_PER_YI ? { name: "亿元", fen: FEN_PER_YI } : { name: "万元", fen: FEN_PER_WAN };
  }
  function amountTooltip(rows, labelOf) {
    return (params) => {
      const list = Array.isArray(params) ? params : [params];
      const row = rows[list[0].dataIndex];
      if (!row) return "";
      return (
        "<b>" + escapeHtml(labelOf(row)) + "</b><br>合同成交额：" + escapeHtml(exactFen(row.contract_amount_fen)) +
        "<br>技术交易额：" + escapeHtml(exactFen(row.technology_amount_fen)) + "<br>合同数：" + row.count
      );
    };
  }
  function seriesOf(rows, keyOf) {
    return rows.map((r) => [keyOf(r), r.contract_amount_fen, r.technology_amount_fen, r.count]);
  }
  /** Contract amount beside technology amount, by category. */
  function pairedBars(id, rows, labelOf, horizontal) {
    if (!rows.length) return emptyBox(id);
    const unit = unitOf(rows);
    const categories = rows.map(labelOf);
    const valueAxis = { type: "value", name: unit.name, axisLabel: { hideOverlap: true } };
    const categoryAxis = { type: "category", data: categories, axisLabel: { hideOverlap: true, width: 90, overflow: "truncate" } };
    if (horizontal) categoryAxis.inverse = true;
    return draw(
      id,
      {
        tooltip: { trigger: "axis", formatter: amountTooltip(rows, labelOf), confine: true },
        legend: { top: 0 },
        grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
        xAxis: horizontal ? valueAxis : categoryAxis,
        yAxis: horizontal ? categoryAxis : valueAxis,
        series: [
          { name: "合同成交额", type: "bar", data: rows.map((r) => r.contract_amount_fen / unit.fen) },
          { name: "技术交易额", type: "bar", data: rows.map((r) => r.technology_amount_fen / unit.fen) },
        ],
      },
      seriesOf(rows, (r) => Object.values(r.key).join(",")),
    );
  }
  // A municipality's city level is named 市辖区 / 县 in GB/T 2260: name the municipality with it.
  const MUNICIPALITIES = { 11: "北京市", 12: "天津市", 31: "上海市", 50: "重庆市" };
  function labelFor(row, dim) {
    const code = String(row.key[dim] ?? "");
    const label = (row.labels && row.labels[dim]) || code || "未知";
    if ((label === "市辖区" || label === "县") && MUNICIPALITIES[code.slice(0, 2)]) return MUNICIPALITIES[code.slice(0, 2)] + "·" + label;
    return label;
  }
  function byAmount(rows) {
    return rows.slice().sort((a, b) => b.contract_amount_fen - a.contract_amount_fen);
  }

  function drawFlows(rows) {
    const id = "chart-flow";
    const used = rows.filter((r) => r.contract_amount_fen > 0);
    if (!used.length) return emptyBox(id);
    const unit = unitOf(used);
    const nodes = new Map();
    const links = [];
    for (const r of used) {
      const seller = labelFor(r, "seller_province");
      const flow = r.key.flow;
      let buyer;
      if (flow === "local") buyer = seller;
      else if (flow === "to_chongqing") buyer = "重庆市";
      else if (flow === "to_sichuan") buyer = "四川省";
      else buyer = labelFor(r, "flow");
      const source = seller + "（输出）";
      const target = buyer + "（吸纳）";
      nodes.set(source, true);
      nodes.set(target, true);
      links.push({ source, target, value: r.contract_amount_fen / unit.fen, row: r });
    }
    return draw(
      id,
      {
        tooltip: {
          trigger: "item",
          confine: true,
          formatter: (p) => {
            if (p.dataType !== "edge") return escapeHtml(p.name);
            const row = links[p.dataIndex].row;
            return escapeHtml(p.data.source + " → " + p.data.target) + "<br>合同成交额：" + escapeHtml(exactFen(row.contract_amount_fen)) + "<br>合同数：" + row.count;
          },
        },
        series: [
          {
            type: "sankey",
            left: 8,
            right: 90,
            top: 8,
            bottom: 8,
            nodeGap: 10,
            emphasis: { focus: "adjacency" },
            data: [...nodes.keys()].map((name) => ({ name })),
            links: links.map(({ source, target, value }) => ({ source, target, value })),
            lineStyle: { color: "gradient", curveness: 0.5 },
            label: { fontSize: 11 },
          },
        ],
      },
      seriesOf(used, (r) => r.key.seller_province + ">" + r.key.flow),
    );
  }

  function drawKinds(rows) {
    const id = "chart-kind";
    const used = byAmount(rows).filter((r) => r.contract_amount_fen > 0);
    if (!used.length) return emptyBox(id);
    return draw(
      id,
      {
        tooltip: { trigger: "item", confine: true, formatter: amountTooltip(used, (r) => labelFor(r, "kind")) },
        legend: { bottom: 0, type: "scroll" },
        series: [
          {
            type: "pie",
            radius: ["35%", "62%"],
            center: ["50%", "45%"],
            label: { formatter: "{b}\n{d}%", fontSize: 11 },
            data: used.map((r) => ({ name: labelFor(r, "kind"), value: r.contract_amount_fen })),
          },
        ],
      },
      seriesOf(used, (r) => r.key.kind),
    );
  }

  function nextMonth(month) {
    const [y, m] = month.split("-").map(Number);
    return m === 12 ? String(y + 1) + "-01" : String(y) + "-" + String(m + 1).padStart(2, "0");
  }
  function drawMonthly(rows) {
    const id = "chart-monthly";
    if (!rows.length) return emptyBox(id);
    const sorted = rows.slice().sort((a, b) => String(a.key.month).localeCompare(String(b.key.month)));
    // Every month from the first to the last, months without contracts as zero.
    const byMonth = new Map(sorted.map((r) => [String(r.key.month), r]));
    const months = [];
    const last = String(sorted[sorted.length - 1].key.month);
    for (let m = String(sorted[0].key.month); m <= last && months.length < 1200; m = nextMonth(m)) months.push(m);
    const zero = (m) => ({ key: { month: m }, count: 0, contract_amount_fen: 0, technology_amount_fen: 0 });
    const all = months.map((m) => byMonth.get(m) || zero(m));
    const unit = unitOf(all);
    return draw(
      id,
      {
        tooltip: { trigger: "axis", confine: true, formatter: amountTooltip(all, (r) => r.key.month) },
        legend: { top: 0 },
        grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: months, axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", name: unit.name },
        series: [
          { name: "合同成交额", type: "bar", data: all.map((r) => r.contract_amount_fen / unit.fen) },
          { name: "技术交易额", type: "bar", data: all.map((r) => r.technology_amount_fen / unit.fen) },
        ],
      },
      seriesOf(sorted, (r) => r.key.month),
    );
  }

  // ---- sections that are others' endpoints or fields: drawn when present, 暂无数据 otherwise ------------------------
  // Region codes a target may carry, for its title (others show as the code).
  const REGION_NAMES = { "510000": "四川省", "500000": "重庆市", "川渝": "川渝" };
  /** A share as the API gives it (decimal fraction string, 6 places) as a percent cut to two places, no float. */
  function percentOf(share) {
    const [whole, frac = ""] = String(share || "0").split(".");
    const digits = (frac + "000000").slice(0, 6);
    return String(Number(whole) * 100 + Number(digits.slice(0, 2))) + "." + digits.slice(2, 4);
  }
  /** The targets: `targets` of /market/stats/public (anonymous: every target) or /cumulative (signed in: the
   * caller's scope and period), each a TargetProgress. */
  function drawTargets(targets) {
    const box = $("targets");
    box.innerHTML = "";
    state.targets = Array.isArray(targets) ? targets : [];
    if (!state.targets.length) {
      box.innerHTML = '<p class="empty">暂无数据</p>';
      return;
    }
    for (const t of state.targets) {
      const card = document.createElement("div");
      card.className = "target " + t.status;
      card.dataset.targetId = String(t.id);
      card.dataset.metric = t.metric;
      card.dataset.status = t.status;
      card.dataset.share = String(t.share);
      card.dataset.daysLeft = String(t.days_left);
      const amount = AMOUNT_METRICS.has(t.metric);
      const percent = percentOf(t.share);
      const title = document.createElement("h3");
      title.textContent = t.name + (t.region ? "（" + (REGION_NAMES[t.region] || t.region) + "）" : "");
      const line = document.createElement("p");
      const achieved = document.createElement("span");
      achieved.className = "achieved";
      const value = document.createElement("span");
      value.className = "value";
      if (amount) {
        achieved.textContent = shortAmount(t.achieved, decimalOf(t.achieved, 10), decimalOf(t.achieved, 6));
        achieved.dataset.fen = String(t.achieved);
        achieved.title = "精确值：" + exactFen(t.achieved);
        value.textContent = t.value_display;
        value.dataset.fen = String(t.value);
        value.title = "精确值：" + exactFen(t.value);
      } else {
        achieved.textContent = groupDigits(String(t.achieved));
        achieved.dataset.count = String(t.achieved);
        value.textContent = t.value_display;
        value.dataset.count = String(t.value);
      }
      line.append((METRICS[t.metric] || t.metric) + "：已完成 ", achieved, " / 目标 ", value);
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = Math.min(100, Number(percent)).toFixed(2) + "%";
      bar.appendChild(fill);
      const status = document.createElement("p");
      const shareText = document.createElement("span");
      shareText.className = "share";
      shareText.textContent = "完成 " + percent + "%";
      const statusText = document.createElement("span");
      statusText.className = "status " + t.status;
      statusText.textContent =
        t.status === "not_started"
          ? "目标期尚未开始（共 " + t.days_left + " 天）"
          : t.status === "ended"
            ? "目标期已结束"
            : "距目标期结束还有 " + t.days_left + " 天";
      status.append(shareText, " · ", statusText);
      const period = document.createElement("p");
      period.className = "period";
      period.textContent = "目标期 " + t.period_from + " 至 " + t.period_to + (t.source ? " · 来源：" + t.source : "");
      card.append(title, line, bar, status, period);
      box.appendChild(card);
    }
  }

  const LEVELS = { national: "国家级", provincial: "省级" };
  /** GET /market/stats/institutions (InstitutionStats): the demonstration institutions against their target
   * (the running or latest target of that metric, else the action plan's 100) and certified brokers by sub-center. */
  function drawInstitutions(body) {
    const jobs = [];
    if (!body) {
      $("demo-summary").textContent = "";
      $("broker-summary").textContent = "";
      return Promise.all([emptyBox("chart-demo"), emptyBox("chart-brokers")]);
    }
    const demo = body.demonstration_institutions;
    const demoTargets = (state.targets || []).filter((t) => t.metric === "demonstration_institutions" && !t.organization_id);
    // The running target; else the one that ended last; else the first to start.
    const ended = demoTargets.filter((t) => t.status === "ended").sort((a, b) => String(a.period_to).localeCompare(String(b.period_to)));
    const demoTarget = demoTargets.find((t) => t.status === "running") || ended[ended.length - 1] || demoTargets[0];
    const goal = demoTarget ? Number(demoTarget.value) : DEMO_TARGET;
    $("demo-title").textContent = "示范机构（目标 " + goal + " 家）";
    $("demo-title").dataset.count = String(goal);
    const summary = $("demo-summary");
    summary.innerHTML = "";
    const total = document.createElement("span");
    total.id = "demo-total";
    setCount(total, demo.total);
    summary.append("共 ", total, " 家");
    for (const level of ["national", "provincial"]) {
      const span = document.createElement("span");
      span.id = "demo-" + level;
      setCount(span, demo.by_level[level] || 0);
      summary.append(" · " + LEVELS[level] + " ", span);
    }
    summary.append(" · 截至 " + body.on);
    jobs.push(
      draw(
        "chart-demo",
        {
          series: [
            {
              type: "gauge",
              min: 0,
              max: Math.max(goal, demo.total),
              progress: { show: true, width: 14 },
              axisLine: { lineStyle: { width: 14 } },
              axisLabel: { distance: 18, fontSize: 10 },
              detail: { formatter: "{value} 家", fontSize: 20, offsetCenter: [0, "55%"] },
              title: { offsetCenter: [0, "82%"], fontSize: 12 },
              data: [{ value: demo.total, name: "目标 " + goal + " 家" }],
            },
          ],
        },
        [["total", demo.total, goal], ...["national", "provincial"].map((l) => [l, demo.by_level[l] || 0])],
      ),
    );
    const brokers = body.certified_brokers;
    const brokerTotal = document.createElement("span");
    brokerTotal.id = "brokers-total";
    setCount(brokerTotal, brokers.total);
    $("broker-summary").innerHTML = "";
    $("broker-summary").append("证书有效的技术经纪人共 ", brokerTotal, " 人");
    const rows = brokers.by_sub_center;
    if (rows.length) {
      const names = rows.map((r) => (r.sub_center ? r.sub_center.name : "中心直属"));
      const counts = rows.map((r) => r.count);
      jobs.push(
        draw(
          "chart-brokers",
          {
            tooltip: { trigger: "axis", confine: true },
            grid: { left: 8, right: 32, top: 16, bottom: 8, containLabel: true },
            xAxis: { type: "value", minInterval: 1 },
            yAxis: { type: "category", inverse: true, data: names, axisLabel: { width: 110, overflow: "truncate" } },
            series: [{ name: "持证技术经纪人", type: "bar", data: counts, label: { show: true, position: "right" } }],
          },
          rows.map((r, i) => [r.sub_center ? r.sub_center.id : "", names[i], counts[i]]),
        ),
      );
    } else {
      jobs.push(emptyBox("chart-brokers"));
    }
    return Promise.all(jobs);
  }

  function drawTopInstitutions(rows) {
    const body = $("top-institutions").tBodies[0];
    const top = byAmount(rows.filter((r) => r.key.broker_level3)).slice(0, 10);
    // The statistics label each institution with its name (verified organizations of the directory).
    const names = top.map((r) => (r.labels && r.labels.broker_level3) || "机构 …" + String(r.key.broker_level3).slice(-8));
    if (!top.length) {
      body.innerHTML = '<tr><td colspan="5" class="empty">暂无数据</td></tr>';
      return;
    }
    body.innerHTML = "";
    top.forEach((r, i) => {
      const tr = document.createElement("tr");
      tr.dataset.org = r.key.broker_level3;
      const cells = [String(i + 1), names[i]];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      const contract = document.createElement("td");
      setAmount(contract, r.contract_amount_fen, r.contract_amount_yi_yuan, r.contract_amount_wan_yuan);
      const technology = document.createElement("td");
      setAmount(technology, r.technology_amount_fen, r.technology_amount_yi_yuan, r.technology_amount_wan_yuan);
      const count = document.createElement("td");
      setCount(count, r.count);
      tr.append(contract, technology, count);
      body.appendChild(tr);
    });
  }

  // ---- filters' options, from the unfiltered answer's own rows and labels --------------------------------------------
  function fillOptions(id, rows, dim, extra) {
    const select = $(id);
    const chosen = select.value;
    const seen = new Set([...select.options].map((o) => o.value));
    for (const [value, label] of [...(extra || []), ...rows.map((r) => [String(r.key[dim]), labelFor(r, dim)])]) {
      if (!value || seen.has(value)) continue;
      seen.add(value);
      select.add(new Option(label, value));
    }
    select.value = chosen;
  }

  // ---- one full render -----------------------------------------------------------------------------------------
  async function render() {
    document.body.dataset.ready = "0";
    const cumulativeParams = new URLSearchParams();
    if (state.token && $("f-from").value) cumulativeParams.set("since", $("f-from").value);
    if (state.token && $("f-to").value) cumulativeParams.set("until", $("f-to").value);
    const cumulativeCall = getJson(STATS + "/cumulative?" + cumulativeParams.toString());
    // Anonymous: every target (also those not started yet) from the public headline; signed in: the targets of
    // the caller's scope that meet the chosen period, from the cumulative answer.
    const publicCall = state.token ? Promise.resolve(null) : getJson(STATS + "/public");
    // The default period starts at the target's start, which the page carries (data-since); else ask first.
    state.since = document.body.dataset.since || (await cumulativeCall).since;
    const features = (document.body.dataset.features || "").split(/\s+/);
    const [cumulative, headline, yearly, monthly, fields, cities, flows, kinds, brokers, institutions] = await Promise.all([
      cumulativeCall,
      publicCall,
      breakdown("year"),
      breakdown("month"),
      breakdown("technical_field"),
      breakdown("seller_city"),
      breakdown("seller_province,flow"),
      breakdown("kind"),
      breakdown("broker_level3"),
      features.includes("institutions") ? getJson(STATS + "/institutions") : Promise.resolve(null),
    ]);
    await domReady;
    const scope = cumulative.scope || {};
    $("scope").textContent = state.token
      ? "当前范围：" + (scope["scope.broker_subtree"] ? "本机构子树（" + scope["scope.broker_subtree"] + "）经纪的合同" : scope["scope.office"] ? "本登记机构（" + scope["scope.office"] + "）登记的合同" : "全部已登记技术合同")
      : "当前范围：全部已登记技术合同（公开汇总）";
    drawTargets((headline || cumulative).targets);
    const total = yearly.total;
    setAmount($("total-contract"), total.contract_amount_fen, total.contract_amount_yi_yuan, total.contract_amount_wan_yuan);
    setAmount($("total-technology"), total.technology_amount_fen, total.technology_amount_yi_yuan, total.technology_amount_wan_yuan);
    setCount($("total-count"), total.count);
    $("total-period").textContent = (yearly.from || "最早") + " 至 " + (yearly.to || todayInChina());
    if (!state.optionsFilled) {
      fillOptions("f-region", cities.rows, "seller_city", [["510000", "四川省"], ["500000", "重庆市"]]);
      fillOptions("f-field", fields.rows, "technical_field");
      fillOptions("f-kind", kinds.rows, "kind");
      state.optionsFilled = Boolean(state.token); // signed in: the first (unfiltered) answer lists the options
    }
    if (!window.echarts) {
      notice("图表库 ECharts 未安装：请运行 make install（或 python infra/vendor_assets.py）后刷新页面。", true);
      document.body.dataset.ready = "1";
      return;
    }
    const yearRows = yearly.rows.slice().sort((a, b) => Number(a.key.year) - Number(b.key.year));
    await Promise.all([
      pairedBars("chart-yearly", yearRows, (r) => String(r.key.year)),
      drawMonthly(monthly.rows),
      pairedBars("chart-field", byAmount(fields.rows), (r) => labelFor(r, "technical_field"), true),
      pairedBars("chart-city", byAmount(cities.rows).slice(0, 15), (r) => labelFor(r, "seller_city"), true),
      drawFlows(flows.rows),
      drawKinds(kinds.rows),
      drawInstitutions(institutions),
      drawTopInstitutions(brokers.rows),
    ]);
    state.renders += 1;
    document.body.dataset.renders = String(state.renders);
    document.body.dataset.ready = "1";
  }

  async function refresh() {
    try {
      await render();
    } catch (error) {
      if (error instanceof HttpError && (error.status === 401 || error.status === 403) && state.token) {
        signOut("该账号没有统计权限（需要统计员、登记员或平台管理员角色），已显示公开汇总。");
        return;
      }
      notice("数据加载失败：" + error.message, true);
      document.body.dataset.ready = "error";
    }
  }

  // ---- sign in / out and downloads ---------------------------------------------------------------------------------
  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    } catch (e) {
      return {};
    }
  }
  async function signIn(event) {
    event.preventDefault();
    const form = new URLSearchParams({ grant_type: "password", username: $("signin-email").value, password: $("signin-password").value });
    const response = await fetch("/auth/token", { method: "POST", body: form });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) {
      notice("登录失败：" + (body.error_description || body.detail || "邮箱或密码不正确"), true);
      return;
    }
    state.token = body.access_token;
    state.email = $("signin-email").value;
    $("signin-password").value = "";
    const claims = claimsOf(state.token);
    const roles = Array.isArray(claims.roles) ? claims.roles.join("、") : "";
    $("whoami-text").textContent = "已登录：" + state.email + (roles ? "（" + roles + "）" : "");
    $("signin").hidden = true;
    $("whoami").hidden = false;
    $("filters").hidden = false;
    notice("");
    state.optionsFilled = false;
    await refresh();
  }
  function signOut(message) {
    state.token = null;
    state.email = null;
    $("signin").hidden = false;
    $("whoami").hidden = true;
    $("filters").hidden = true;
    $("filters").reset();
    notice(message || "");
    refresh();
  }
  async function download(format) {
    const params = filterParams();
    if (!params.has("from") && state.since) params.set("from", state.since);
    params.set("group_by", "year,technical_field,kind");
    params.set("format", format);
    const response = await fetch(STATS + "/contracts?" + params.toString(), { headers: { Authorization: "Bearer " + state.token } });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      notice("下载失败：" + (problem.detail || response.status), true);
      return;
    }
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = "contract-statistics." + format;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // This script is deferred before ECharts: the data requests start at once, ECharts compiles meanwhile, and the
  // charts are drawn once the document (with every deferred script) is ready.
  // (A deferred script runs while readyState is already "interactive" but before DOMContentLoaded: wait for the
  // event, or for "load" should this script ever run later.)
  const domReady = new Promise((resolve) => {
    if (document.readyState === "complete") resolve();
    document.addEventListener("DOMContentLoaded", resolve, { once: true });
    window.addEventListener("load", resolve, { once: true });
  });
  (() => {
    $("signin").addEventListener("submit", signIn);
    $("signout").addEventListener("click", () => signOut());
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      const from = $("f-from").value;
      const to = $("f-to").value;
      if (from && to && to < from) {
        notice("截止日期不能早于起始日期。", true);
        return;
      }
      notice("");
      refresh();
    });
    $("f-reset").addEventListener("click", () => {
      $("filters").reset();
      refresh();
    });
    $("dl-csv").addEventListener("click", () => download("csv"));
    $("dl-xlsx").addEventListener("click", () => download("xlsx"));
    window.addEventListener("resize", () => Object.values(state.charts).forEach((c) => c.resize()));
    refresh();
  })();
})();
