/*
 * Live parts of the analytics dashboard, over Callscope's WebSocket streams.
 *
 * #cs-live carries the URLs: data-ticket-url (POST, with the session's CSRF token: a single-use
 * ticket for one stream of the dashboard's tenant), data-tiles-url (the page's KPI tiles as
 * JSON), data-call-url (a call's admin page, CALL_ID replaced by the call id) and data-live-tiles
 * ("1" when the window ends now, so that new calls change the tiles).
 *
 * - /ws/v1/analytics/active-calls sets the "Active calls now" tile.
 * - /ws/v1/calls keeps the "Calls in progress" panel (rows added, updated and removed as calls
 *   start and end; elapsed times tick every second) and, on any call event, redraws the other
 *   tiles from data-tiles-url, at most every few seconds.
 *
 * A closed stream is opened again with a new ticket after a pause that grows to a minute.
 */
(function () {
  "use strict";

  const root = document.getElementById("cs-live");
  if (!root) {
    return;
  }
  const LIVE_STATUSES = new Set(["initiated", "queue", "ringing", "in-progress"]);
  const TILE_REFRESH_MS = 3000;
  const rows = document.getElementById("cs-in-progress-rows");
  const empty = document.getElementById("cs-in-progress-empty");
  const state = document.getElementById("cs-live-state");
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const open = new Set();

  function showState() {
    state.textContent = open.size === 2 ? "live" : "reconnecting…";
  }

  async function ticket() {
    const response = await fetch(root.dataset.ticketUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf },
      credentials: "same-origin",
    });
    if (!response.ok) {
      throw new Error(`ticket: HTTP ${response.status}`);
    }
    return (await response.json()).ticket;
  }

  function stream(path, onMessage) {
    let pause = 1000;
    async function connect() {
      let socket;
      try {
        const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
        const t = encodeURIComponent(await ticket());
        socket = new WebSocket(`${scheme}//${window.location.host}${path}?ticket=${t}`);
      } catch (error) {
        retry();
        return;
      }
      socket.addEventListener("open", () => {
        pause = 1000;
        open.add(path);
        showState();
      });
      socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
      socket.addEventListener("close", () => {
        open.delete(path);
        showState();
        retry();
      });
    }
    function retry() {
      window.setTimeout(connect, pause);
      pause = Math.min(pause * 2, 60000);
    }
    connect();
  }

  // --- Tiles ---------------------------------------------------------------------------------

  // A tile as data-tiles-url renders it (analytics.dashboard.Tile.as_json). Every string is the
  // server's, the change figure included: its rules (percent or percentage points, no figure
  // without a previous value) are written once, in analytics/dashboard.py.
  function setTile(key, fields) {
    const tile = document.querySelector(`.cs-tile[data-tile="${key}"]`);
    if (!tile) {
      return;
    }
    tile.querySelector(".cs-tile-value").textContent = fields.display;
    const change = tile.querySelector(".cs-tile-change");
    if (change && fields.change) {
      change.className = `cs-tile-change cs-${fields.change.trend}`;
      change.querySelector(".cs-tile-delta").textContent = fields.change.display;
      change.querySelector(".cs-quiet").textContent = fields.change.versus;
    }
    if (fields.count_label !== undefined) {
      tile.querySelector(".cs-tile-count").textContent = `${fields.count_label} \u2192`;
      tile.title = fields.tooltip;
    }
  }

  let tilesDue = null;
  function refreshTilesSoon() {
    if (root.dataset.liveTiles !== "1" || tilesDue !== null) {
      return;
    }
    tilesDue = window.setTimeout(async () => {
      tilesDue = null;
      const response = await fetch(root.dataset.tilesUrl, { credentials: "same-origin" });
      if (response.ok) {
        for (const tile of (await response.json()).tiles) {
          if (tile.key !== "active") {
            setTile(tile.key, tile);
          }
        }
      }
    }, TILE_REFRESH_MS);
  }

  // --- Calls in progress -----------------------------------------------------------------------

  function elapsed(start) {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(start)) / 1000));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = String(seconds % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  }

  function tick() {
    for (const row of rows.querySelectorAll("tr[data-start]")) {
      row.querySelector(".cs-elapsed").textContent = elapsed(row.dataset.start);
    }
    empty.hidden = rows.children.length > 0;
  }

  function rowOf(callId) {
    return Array.from(rows.children).find((row) => row.dataset.call === callId) || null;
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function showCall(call) {
    let row = rowOf(call.call_id);
    if (!LIVE_STATUSES.has(call.status)) {
      if (row) {
        row.remove();
      }
      return;
    }
    if (!row) {
      row = document.createElement("tr");
      row.dataset.call = call.call_id;
      const link = document.createElement("a");
      link.href = root.dataset.callUrl.replace("CALL_ID", encodeURIComponent(call.call_id));
      link.textContent = call.call_id;
      const first = document.createElement("td");
      first.appendChild(link);
      row.append(first, cell(""), cell(""), cell(""));
      row.lastChild.className = "cs-elapsed";
      rows.prepend(row);
    }
    row.dataset.start = call.start_time;
    row.children[1].textContent = call.agent ? call.agent.name || call.agent.model_id : "-";
    row.children[2].textContent = call.status;
  }

  stream("/ws/v1/analytics/active-calls", (message) => {
    if (message.type === "active_calls") {
      setTile("active", { display: message.count.toLocaleString("en-US") });
    }
  });
  stream("/ws/v1/calls", (message) => {
    if (message.type.startsWith("call.")) {
      showCall(message.call);
      tick();
      refreshTilesSoon();
    }
  });
  tick();
  window.setInterval(tick, 1000);
})();
