// The dashboard page: draws the state the host sends (host/report/dashboard.py).
// Live (window.K6HOST_LIVE): the state comes from /events, then one event per
// period and the summary at the end. In the exported report the same state
// sits in the page (#k6host-data) and nothing is fetched.
(function () {
  "use strict"
  let state = null
  const charts = {}

  const SERIES = {
    "chart-load": [["VUs", "vus", "#7b61ff"], ["iterations/s", "iterations", "#3d7eff"]],
    "chart-sockets": [["opened/s", "sockets", "#2a9d5c"], ["errors/s", "errors", "#c0392b"],
                      ["timeouts/s", "timeouts", "#e67e22"]],
    "chart-bytes": [["sent B/s", "sent", "#3d7eff"], ["received B/s", "received", "#2a9d5c"]],
    "chart-duration": [["p50", "p50", "#3d7eff"], ["p90", "p90", "#2a9d5c"], ["p95", "p95", "#e67e22"],
                       ["p99", "p99", "#c0392b"]],
  }

  function text(id, value) {
    document.getElementById(id).textContent = value
  }

  function row(name) {
    return (state.rows || []).find((r) => r[0] === name)
  }

  function table(id, head, rows, classes) {
    const el = document.getElementById(id)
    el.textContent = ""
    if (!rows.length) {
      const tr = el.insertRow()
      const td = tr.insertCell()
      td.className = "empty"
      td.textContent = "none"
      return
    }
    const hr = el.createTHead().insertRow()
    head.forEach((h) => {
      const th = document.createElement("th")
      th.textContent = h
      hr.appendChild(th)
    })
    const body = el.createTBody()
    rows.forEach((cells) => {
      const tr = body.insertRow()
      cells.forEach((c, i) => {
        const td = tr.insertCell()
        td.textContent = c
        const cls = classes && classes(cells, i)
        if (cls) td.className = cls
      })
    })
  }

  function chartData(keys) {
    const snaps = state.snapshots
    return [snaps.map((s) => s.t), ...keys.map(([, key]) => snaps.map((s) => s[key]))]
  }

  function drawCharts() {
    for (const id in SERIES) {
      const keys = SERIES[id]
      const data = chartData(keys)
      if (charts[id]) {
        charts[id].setData(data)
        continue
      }
      const el = document.getElementById(id)
      charts[id] = new uPlot({
        width: Math.max(el.clientWidth, 520),
        height: 220,
        series: [{}, ...keys.map(([label, , stroke]) => ({ label, stroke, width: 2, spanGaps: true }))],
        axes: [{}, { size: 70 }],
      }, data, el)
    }
  }

  function render() {
    text("script", state.script)
    const status = document.getElementById("status")
    status.textContent = state.finished ? "finished" : "running"
    status.className = "status" + (state.finished ? " finished" : "")
    const last = state.snapshots[state.snapshots.length - 1]
    const seconds = state.finished && state.duration ? state.duration : last ? last.t - state.started : 0
    text("elapsed", seconds.toFixed(1) + " s")
    const cell = (name, i) => (row(name) ? row(name)[i] : "0")
    text("card-vus", last ? String(last.vus) : "–")
    text("card-iterations", cell("iterations", 1))
    text("card-rate", cell("iterations", 2))
    text("card-sockets", cell("tcp_sockets", 1))
    text("card-sent", cell("data_sent", 1))
    text("card-received", cell("data_received", 1))
    text("card-errors", cell("tcp_errors", 1))
    text("card-checks", row("checks") ? row("checks")[1] : "–")
    table("thresholds", ["metric", "threshold", "result"],
          (state.thresholds || []).map(([m, s, ok]) => [m, s, ok ? "passed" : "failed"]),
          (cells, i) => (i === 2 ? (cells[2] === "passed" ? "ok" : "fail") : ""))
    table("checks", ["check", "passes", "fails"], (state.checks || []).map((c) => c.map(String)),
          (cells, i) => (i === 2 ? (cells[2] === "0" ? "ok" : "fail") : ""))
    const width = Math.max(0, ...(state.rows || []).map((r) => r.length))
    table("metrics", ["metric", ...Array(width - 1).fill("")], state.rows || [])
    drawCharts()
  }

  function apply(update) {
    if (update.snapshot) state.snapshots.push(update.snapshot)
    Object.keys(update).forEach((k) => {
      if (k !== "snapshot") state[k] = update[k]
    })
    render()
  }

  if (window.K6HOST_LIVE) {
    const events = new EventSource("/events")
    events.addEventListener("state", (e) => {
      state = JSON.parse(e.data)
      render()
    })
    events.addEventListener("snapshot", (e) => apply(JSON.parse(e.data)))
    events.addEventListener("summary", (e) => apply(JSON.parse(e.data)))
    // The test is over and the server goes away: keep what is shown.
    events.addEventListener("end", () => events.close())
  } else {
    state = JSON.parse(document.getElementById("k6host-data").textContent)
    render()
  }
})()
