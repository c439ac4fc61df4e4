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

  function draw(fig) {
    const spec = JSON.parse(fig.querySelector('script[type="application/json"]').textContent);
    const el = fig.querySelector(".plot");
    const data = [spec.x || []];
    const series = [{}];
    for (const s of spec.series || []) {
      data.push(s.values || []);
      series.push({ label: s.label, stroke: s.color, width: s.width || 1.5, spanGaps: false,
        value: (u, v) => v == null ? "–" : v.toFixed(spec.unit === "°C" ? 2 : 1) });
    }
    const thresholds = spec.thresholds || [];
    const bands = spec.bands || [];
    const yRange = (u, lo, hi) => {
      for (const t of thresholds) { lo = Math.min(lo, t.value); hi = Math.max(hi, t.value); }
      if (lo == null || !isFinite(lo)) return [0, 1];
      if (spec.bars) return [0, hi * 1.08 || 1];
      const pad = (hi - lo) * 0.08 || 1;
      return [lo - pad, hi + pad];
    };
    const opts = {
      width: Math.max(280, el.clientWidth || 600), height: 240,
      series: series,
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [{}, { label: spec.unit, size: 56 }],
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
          const ctx = u.ctx;
          ctx.save();
          ctx.setLineDash([6, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.font = (11 * devicePixelRatio) + "px system-ui, sans-serif";
          ctx.textAlign = "left";
          ctx.textBaseline = "bottom";
          for (const t of thresholds) {
            const y = u.valToPos(t.value, "y", true);
            ctx.strokeStyle = lineColor[t.severity] || "#444";
            ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
            ctx.fillStyle = ctx.strokeStyle;
            ctx.fillText(t.label + " " + t.value, u.bbox.left + 4 * devicePixelRatio, y - 3 * devicePixelRatio);
          }
          ctx.restore();
        }],
      },
    };
    if (spec.bars) {
      series[1].paths = uPlot.paths.bars({ size: [0.7, 40] });
      series[1].fill = "rgba(31, 95, 168, 0.35)";
    }
    const u = new uPlot(opts, data, el);
    charts.push({ id: spec.id, u: u, points: data[0].length, thresholds: thresholds.length, bands: bands.length });
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

  document.addEventListener("DOMContentLoaded", () => {
    for (const fig of document.querySelectorAll("figure.chart")) draw(fig);
    live();
  });
})();
