// The dashboard's HTML shell; everything live is filled in by static/app.js.
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>iosig dashboard</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script type="module" src="/static/app.js"></script>
</head>
<body>
<header>
  <h1>iosig</h1>
  <span id="feed-state" class="badge">connecting…</span>
  <span id="access" class="badge"></span>
  <form id="token-form" autocomplete="off">
    <input id="token" type="password" placeholder="admin token" aria-label="admin token">
    <button type="submit">Use token</button>
  </form>
</header>
<main>
  <section id="counters" class="cards" aria-label="counters"></section>
  <section class="panel wide">
    <h2>Traffic <small>messages per second, last 5 minutes</small></h2>
    <canvas id="traffic"></canvas>
    <div class="legend"><span class="in">in</span> <span class="out">out</span></div>
  </section>
  <section class="panel wide">
    <h2>Values <input id="values-channel" placeholder="channel to plot" aria-label="channel to plot"> <small id="values-latest"></small></h2>
    <canvas id="values"></canvas>
  </section>
  <section id="mqtt-panel" class="panel wide" hidden>
    <h2>MQTT <small id="mqtt-summary"></small></h2>
  </section>
  <section id="cluster-panel" class="panel wide" hidden>
    <h2>Cluster nodes <small id="cluster-summary"></small></h2>
    <table id="nodes">
      <thead><tr><th>node</th><th>address</th><th class="num">connections</th><th class="num">uptime</th><th class="num">bus lag</th><th class="num" title="cross-node messages it did not send (bus down, budget, share…)">dropped</th><th class="num" title="messages sent to it that never arrived (sequence gaps)">missed</th><th class="num">sent</th><th class="num">received</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="panel wide">
    <h2>Devices <small id="device-count"></small> <small>click a device to address it</small></h2>
    <p id="devices-locked" class="locked" hidden>The device list needs the admin token.</p>
    <table id="devices">
      <thead><tr><th>CID</th><th>kind</th><th>transport</th><th>ip</th><th>auth</th><th class="num">uptime</th><th class="num">msgs in</th><th class="num">msgs out</th><th class="num">bytes in</th><th class="num">bytes out</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="panel">
    <h2>Channels <small id="channel-count"></small></h2>
    <table id="channels">
      <thead><tr><th>channel</th><th class="num">subscribers</th><th>retained</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="panel">
    <h2>Send a signal</h2>
    <form id="send-form">
      <label>to <select id="send-target">
        <option value="channel">a channel</option>
        <option value="cid">one CID</option>
        <option value="everyone">every device</option>
      </select></label>
      <label id="send-tag-label">channel <input id="send-tag" placeholder="channel name"></label>
      <label id="send-cid-label" hidden>CID <input id="send-cid" placeholder="cid"></label>
      <label id="send-topic-label" hidden>topic <input id="send-topic" value="dashboard"></label>
      <label>as <select id="send-kind"><option value="text">text</option><option value="json">JSON</option></select></label>
      <label class="grow">payload <input id="send-payload" placeholder="hello"></label>
      <button id="send-button" type="submit">Send</button>
      <output id="send-result"></output>
    </form>
  </section>
  <section id="tail-panel" class="panel wide">
    <h2>Recent messages <input id="tail-filter" placeholder="filter by channel" aria-label="channel filter"></h2>
    <p id="tail-locked" class="locked" hidden>The message tail needs the admin token.</p>
    <table id="tail">
      <thead><tr><th>time</th><th>from</th><th>channel</th><th>type</th><th class="num">bytes</th><th>payload</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
</body>
</html>
`;
