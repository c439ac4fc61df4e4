// iotwatch pages: draws the charts (uPlot) from the JSON each <figure class="chart"> holds, and
// with a running pipeline updates the live figures from /events (Server-Sent Events).
"use strict";
(function () {
  const charts = [];
  window.iotwatch = { charts: charts, events: 0 };
  // The shades of episodes and the dashed thresholds, by severity; each chart's key (app.css,
  // .chart-key) shows the same colours.
  const sevColor = { WARNING: "rgba(176, 96, 0, 0.16)", VIOLATION: "rgba(164, 22, 26, 0.18)" };
  const lineColor = { WARNING: "#b06000", VIOLATION: "#a4161a" };

  // Times on the charts are UTC in ISO form, as everywhere else on the pages, whatever the
  // browser's time zone and locale: uPlot places the ticks by tzDate's calendar (whole UTC hours
  // and days) and the axis and the legend print them with utc below.
  const tzUTC = ts => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
  const two = n => String(n).padStart(2, "0");
  function utc(ts) {
    const d = new Date(ts * 1e3);
    return { date: d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()),
      time: two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + (d.getUTCSeconds() ? ":" + two(d.getUTCSeconds()) : "") };
  }
  // timeTicks labels the x axis's ticks: "14:00" when the ticks are hours apart, with the date
  // under each midnight's and under the first (unless a midnight's date is too near to leave it
  // room); "03-10" when they are days apart, the year under the first.
  function timeTicks(u, splits, axisIdx, space, incr) {
    if (incr >= 86400) return splits.map((ts, i) => ts == null ? null : utc(ts).date.slice(5) + (i === 0 ? "\n" + utc(ts).date.slice(0, 4) : ""));
    const dated = splits.map(ts => ts != null && ts % 86400 === 0);
    const next = dated.indexOf(true, 1);
    if (splits[0] != null && !dated[0]) dated[0] = next < 0 || u.valToPos(splits[next], "x") - u.valToPos(splits[0], "x") >= 90;
    return splits.map((ts, i) => ts == null ? null : utc(ts).time + (dated[i] ? "\n" + utc(ts).date : ""));
  }

  // robustRange is the range of the values that ignores outliers (an injected spike, a sensor's
  // glitch): the 1st to the 99th percentile, widened by half that span on each side; a value
  // outside it is an outlier. A curve that moves keeps all its points (a sine, a light switched
  // on and off), one that is flat loses only its spikes.
  function robustRange(values) {
    const v = values.filter(x => x != null && isFinite(x)).sort((a, b) => a - b);
    if (v.length < 20) return null; // too few points to call any an outlier
    const q = f => v[Math.min(v.length - 1, Math.max(0, Math.round(f * (v.length - 1))))];
    const p1 = q(0.01), p99 = q(0.99), margin = Math.max((p99 - p1) * 0.5, Math.abs(p99) * 0.02, 0.5);
    const lo = p1 - margin, hi = p99 + margin;
    let outside = 0, extreme = null;
    for (const x of v) {
      if (x < lo || x > hi) {
        outside++;
        if (extreme == null || Math.abs(x - (p1 + p99) / 2) > Math.abs(extreme - (p1 + p99) / 2)) extreme = x;
      }
    }
    return { lo: Math.max(lo, v[0]), hi: Math.min(hi, v[v.length - 1]), outside: outside, extreme: extreme };
  }

  // placeLabels spreads the thresholds' labels (their baselines, y from the top) at least `gap`
  // apart, in order, inside top..bottom: two thresholds close together (23 and 23.8) get one
  // label each, not one over the other.
  function placeLabels(ys, gap, top, bottom) {
    const order = ys.map((y, i) => i).sort((a, b) => ys[a] - ys[b]);
    const out = ys.slice();
    let prev = -Infinity;
    for (const i of order) { out[i] = Math.max(out[i], prev + gap, top + gap); prev = out[i]; }
    let next = Infinity; // pushed past the bottom: back up, keeping the gaps
    for (let k = order.length - 1; k >= 0; k--) {
      const i = order[k];
      out[i] = Math.min(out[i], next - gap, bottom);
      next = out[i];
    }
    return out;
  }

  function draw(fig) {
    const spec = JSON.parse(fig.querySelector('script[type="application/json"]').textContent);
    const el = fig.querySelector(".plot");
    const data = [spec.x || []];
    const series = [{ value: (u, v) => v == null ? "–" : utc(v).date + " " + utc(v).time + " UTC" }];
    const decimals = spec.unit === "°C" ? 2 : 1;
    for (const s of spec.series || []) {
      data.push(s.values || []);
      series.push({ label: s.label, stroke: s.color, width: s.width || 1.5, spanGaps: false,
        value: (u, v) => v == null ? "–" : v.toFixed(decimals) });
    }
    const thresholds = spec.thresholds || [];
    const bands = spec.bands || [];
    const robust = spec.bars ? null : robustRange([].concat(...data.slice(1)));
    const chart = { id: spec.id, points: data[0].length, thresholds: thresholds.length, bands: bands.length,
      outliers: robust ? robust.outside : 0, ignoreOutliers: !!(robust && robust.outside), labels: [] };
    const yRange = (u, lo, hi) => {
      if (chart.ignoreOutliers) { lo = robust.lo; hi = robust.hi; }
      for (const t of thresholds) { lo = Math.min(lo, t.value); hi = Math.max(hi, t.value); }
      if (lo == null || !isFinite(lo)) return [0, 1];
      if (spec.bars) return [0, hi * 1.08 || 1];
      const pad = (hi - lo) * 0.08 || 1;
      return [lo - pad, hi + pad];
    };
    const opts = {
      width: Math.max(280, el.clientWidth || 600), height: 240,
      series: series,
      tzDate: tzUTC,
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [{ values: timeTicks, space: 60 }, { label: spec.unit, size: 56 }],
      legend: { live: true },
      hooks: {
        drawClear: [u => {
          const ctx = u.ctx;
          for (const b of bands) {
            const x0 = u.valToPos(b.from, "x", true), x1 = u.valToPos(b.to, "x", true);
            ctx.fillStyle = sevColor[b.severity] || sevColor.WARNING;
            ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height);
          }
        }],
        draw: [u => {
          const ctx = u.ctx, px = devicePixelRatio;
          ctx.save();
          ctx.setLineDash([6, 4]);
          ctx.lineWidth = 1.5 * px;
          ctx.font = (11 * px) + "px system-ui, sans-serif";
          ctx.textAlign = "left";
          ctx.textBaseline = "bottom";
          const ys = thresholds.map(t => u.valToPos(t.value, "y", true));
          const gap = 13 * px;
          const at = placeLabels(ys.map(y => y - 3 * px), gap, u.bbox.top, u.bbox.top + u.bbox.height);
          chart.labels = [];
          thresholds.forEach((t, i) => {
            ctx.strokeStyle = lineColor[t.severity] || "#444";
            ctx.beginPath(); ctx.moveTo(u.bbox.left, ys[i]); ctx.lineTo(u.bbox.left + u.bbox.width, ys[i]); ctx.stroke();
            ctx.fillStyle = ctx.strokeStyle;
            const text = t.label + " " + t.value;
            ctx.fillText(text, u.bbox.left + 4 * px, at[i]);
            chart.labels.push({ text: text, y: at[i] / px, line: ys[i] / px, height: gap / px });
          });
          ctx.restore();
        }],
      },
    };
    if (spec.bars) {
      series[1].paths = uPlot.paths.bars({ size: [0.7, 40] });
      series[1].fill = "rgba(31, 95, 168, 0.35)";
    }
    const u = new uPlot(opts, data, el);
    chart.u = u;
    charts.push(chart);
    if (chart.outliers) outlierNote(fig, chart, robust, spec.unit);
    // Follow the container's width (a phone turned, a window resized), once a frame at most and
    // only when it changed: a resize that itself changes the layout must not loop.
    let width = opts.width, pending = false;
    new ResizeObserver(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        const w = Math.max(280, el.clientWidth);
        if (Math.abs(w - width) >= 2) {
          width = w;
          u.setSize({ width: w, height: 240 });
        }
      });
    }).observe(el);
  }

  // outlierNote says under a chart how many points lie outside the range it shows, with a button
  // that shows them all (and back).
  function outlierNote(fig, chart, robust, unit) {
    const p = document.createElement("p");
    p.className = "outliers muted";
    const text = document.createElement("span");
    const button = document.createElement("button");
    button.type = "button";
    const n = chart.outliers + " point" + (chart.outliers === 1 ? "" : "s");
    const show = () => {
      text.textContent = chart.ignoreOutliers
        ? n + " outside the range shown (the furthest " + robust.extreme.toFixed(1) + (unit ? " " + unit : "") + "). "
        : "Every point shown, " + n + " of them outliers. ";
      button.textContent = chart.ignoreOutliers ? "Show every point" : "Ignore the outliers";
    };
    button.addEventListener("click", () => {
      chart.ignoreOutliers = !chart.ignoreOutliers;
      show();
      chart.u.setData(chart.u.data); // the y range again, from yRange
    });
    p.append(text, button);
    fig.querySelector(".plot").after(p);
    show();
  }

  function live() {
    if (!document.body.dataset.live || !window.EventSource) return;
    const es = new EventSource("/events");
    es.onmessage = ev => {
      const d = JSON.parse(ev.data);
      window.iotwatch.events++;
      for (const el of document.querySelectorAll("[data-live]")) {
        const k = el.dataset.live;
        if (!(k in d)) continue;
        el.textContent = k === "rate" ? d.rate.toFixed(1) + (el.closest(".tiles li") && !el.classList.contains("big") ? "/s" : "")
          : k === "pass_rate_pct" ? d[k].toFixed(2) : String(d[k]);
      }
      for (const [id, t] of Object.entries(d.last_seen || {})) {
        const cell = document.querySelector('[data-last-seen="' + CSS.escape(id) + '"]');
        if (cell && cell.title !== t) {
          cell.title = t;
          cell.textContent = t.replace("T", " ").replace("Z", "") + " (live)";
        }
      }
    };
  }

  window.iotwatch.draw = draw; // for the tests: a chart from a spec the lake does not hold

  document.addEventListener("DOMContentLoaded", () => {
    for (const fig of document.querySelectorAll("figure.chart")) draw(fig);
    // A table wider than the screen (the heatmap on a phone) starts at its newest hour, the right.
    for (const el of document.querySelectorAll(".heat-scroll")) el.scrollLeft = el.scrollWidth;
    live();
  });
})();
