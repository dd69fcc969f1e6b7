// The dashboard's stylesheet, served as /static/dashboard.css.
export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --bg: #f6f7f9; --panel: #fff; --line: #d9dde3; --muted: #667; --in: #2b7bd6; --out: #e0822b; }
@media (prefers-color-scheme: dark) { :root { --bg: #15181c; --panel: #1e2227; --line: #333a42; --muted: #99a; } }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); }
header { display: flex; align-items: center; gap: 12px; padding: 10px 18px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { font-size: 18px; margin: 0 8px 0 0; }
#token-form { margin-left: auto; display: flex; gap: 6px; }
.badge { padding: 2px 8px; border-radius: 10px; background: var(--line); font-size: 12px; }
.badge.live { background: #2e9d55; color: #fff; }
.badge.down { background: #c0392b; color: #fff; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; padding: 14px 18px; }
.cards { grid-column: 1 / -1; display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card b { display: block; font-size: 18px; }
.card span { color: var(--muted); font-size: 12px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; overflow: auto; }
.wide { grid-column: 1 / -1; }
#tail-panel { max-height: 440px; }
h2 { font-size: 15px; margin: 0 0 8px; display: flex; gap: 10px; align-items: baseline; }
h2 small { color: var(--muted); font-weight: normal; }
h2 input { margin-left: auto; }
canvas { width: 100%; height: 160px; display: block; }
#devices tbody tr { cursor: pointer; }
.legend span::before { content: ''; display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 8px; }
.legend .in::before { background: var(--in); }
.legend .out::before { background: var(--out); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; }
td.preview { white-space: normal; word-break: break-all; font-family: ui-monospace, monospace; }
.locked { color: var(--muted); font-style: italic; }
#send-form { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
#send-form label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
#send-form .grow { flex: 1; }
input, select, button { font: inherit; padding: 3px 6px; }
output { width: 100%; }
`;
