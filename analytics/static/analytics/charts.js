/*
 * Callscope admin charts, drawn with Chart.js (vendor/chart.umd.js, from npm).
 *
 * Every <canvas data-chart="NAME" data-source="ID"> is drawn from the chart NAME of the JSON that
 * the element #ID holds (a Django json_script block). A chart is
 *   {type: "bar" | "line", labels: [...], stacked, horizontal, valueTitle, indexTitle, unit,
 *    datasets: [{label, data, color, dash, urls, notes}], links}
 * where urls[i] is where a click on element i of the dataset leads (the admin call list
 * filtered to the calls it counts) and notes[i] a line for its tooltip. Series that share their
 * elements' links (a provider's p50, p95 and p99 lines) carry `links: k` instead, and their urls
 * and notes are the chart's links[k].
 *
 * The dashboard's filter form is also handled here: typing a date selects the custom range, and
 * choosing another tenant drops the agent (agents belong to a tenant).
 */
(function () {
  "use strict";

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function withAlpha(color, alpha) {
    const match = /^#([0-9a-f]{6})$/i.exec(color);
    if (!match) {
      return color;
    }
    const n = parseInt(match[1], 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function formatValue(value, unit) {
    if (value === null || value === undefined) {
      return "no data";
    }
    const text = Number(value).toLocaleString(undefined, { maximumFractionDigits: 1 });
    return unit ? `${text} ${unit}` : text;
  }

  // Height of one horizontal bar with its label, and of the value axis, legend and padding.
  const BAR_ROW_PX = 22;
  const AXES_PX = 60;

  function draw(canvas, spec) {
    const line = spec.type === "line";
    const datasets = spec.datasets.map((d) => ({
      label: d.label,
      data: d.data,
      backgroundColor: line ? d.color : withAlpha(d.color, 0.85),
      borderColor: d.color,
      borderWidth: line ? 2 : 0,
      borderDash: d.dash || [],
      pointRadius: line ? 3 : 0,
      pointHoverRadius: line ? 5 : 0,
      spanGaps: true,
      tension: 0,
      maxBarThickness: 48,
    }));
    const valueAxis = {
      beginAtZero: true,
      stacked: Boolean(spec.stacked),
      title: { display: Boolean(spec.valueTitle), text: spec.valueTitle || "" },
      ticks: { precision: spec.unit ? undefined : 0 },
    };
    const indexAxis = {
      stacked: Boolean(spec.stacked),
      title: { display: Boolean(spec.indexTitle), text: spec.indexTitle || "" },
      // A horizontal bar without its label says nothing: every bar keeps it, and the chart
      // grows instead (below). Time axes skip labels as they must.
      ticks: { autoSkip: !spec.horizontal, maxRotation: 0 },
    };
    const box = canvas.parentElement;
    if (spec.horizontal && box) {
      const needed = spec.labels.length * BAR_ROW_PX + AXES_PX;
      if (needed > box.clientHeight) {
        box.style.height = `${needed}px`;
      }
    }
    const scales = spec.horizontal ? { x: valueAxis, y: indexAxis } : { x: indexAxis, y: valueAxis };

    function linksOf(datasetIndex) {
      const source = spec.datasets[datasetIndex];
      if (source && source.links !== undefined) {
        return (spec.links || [])[source.links] || {};
      }
      return source || {};
    }

    function urlAt(element) {
      const links = linksOf(element.datasetIndex);
      return links.urls ? links.urls[element.index] : null;
    }

    return new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: spec.horizontal ? "y" : "x",
        interaction: line
          ? { mode: "nearest", intersect: false }
          : { mode: spec.stacked ? "index" : "nearest", intersect: true },
        scales: scales,
        plugins: {
          legend: {
            display: datasets.length > 1,
            position: "bottom",
            labels: { boxWidth: 12, usePointStyle: line },
          },
          tooltip: {
            callbacks: {
              label: (item) => `${item.dataset.label}: ${formatValue(item.raw, spec.unit)}`,
              footer: (items) => {
                if (!items.length) {
                  return "";
                }
                const links = linksOf(items[0].datasetIndex);
                const note = links.notes ? links.notes[items[0].dataIndex] : "";
                const link = urlAt({ datasetIndex: items[0].datasetIndex, index: items[0].dataIndex });
                return [note, link ? "Click to open these calls" : ""].filter(Boolean).join("\n");
              },
            },
          },
        },
        onHover: (event, elements) => {
          const target = event.native ? event.native.target : null;
          if (target) {
            target.style.cursor = elements.length && urlAt(elements[0]) ? "pointer" : "default";
          }
        },
        onClick: (event, elements, chart) => {
          // The element under the pointer itself, even when the tooltip shows a whole stack.
          const hit = chart.getElementsAtEventForMode(
            event,
            "nearest",
            { intersect: !line },
            false
          );
          const url = hit.length ? urlAt(hit[0]) : elements.length ? urlAt(elements[0]) : null;
          if (url) {
            window.location.assign(url);
          }
        },
      },
    });
  }

  function drawAll() {
    if (typeof Chart === "undefined") {
      throw new Error("Chart.js did not load (analytics/vendor/chart.umd.js).");
    }
    Chart.defaults.color = cssVar("--body-quiet-color", "#666");
    Chart.defaults.borderColor = cssVar("--hairline-color", "#e8e8e8");
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    const sources = {};
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      if (Chart.getChart(canvas)) {
        return;
      }
      const id = canvas.dataset.source;
      if (!(id in sources)) {
        const element = document.getElementById(id);
        sources[id] = element ? JSON.parse(element.textContent) : {};
      }
      const spec = sources[id][canvas.dataset.chart];
      if (!spec) {
        throw new Error(`No chart "${canvas.dataset.chart}" in #${id}.`);
      }
      draw(canvas, spec);
      canvas.dataset.drawn = "true";
    });
  }

  function wireFilters() {
    const form = document.getElementById("cs-dash-filters");
    if (!form) {
      return;
    }
    const range = form.elements.namedItem("range");
    ["from_date", "to_date"].forEach((name) => {
      const input = form.elements.namedItem(name);
      if (input && range) {
        input.addEventListener("change", () => {
          range.value = "custom";
        });
      }
    });
    form.querySelectorAll("select[data-cs-resets]").forEach((select) => {
      select.addEventListener("change", () => {
        const dependent = form.elements.namedItem(select.dataset.csResets);
        if (dependent) {
          dependent.value = "";
        }
        form.submit();
      });
    });
  }

  function start() {
    wireFilters();
    drawAll();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
