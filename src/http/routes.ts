// HTTP on the WebSocket port: Prometheus `/metrics`, the `/api/status` JSON, the live feed, the send API and
// the dashboard page. The server registers them through listenWs, before its catch-all route.
import type uWS from 'uWebSockets.js';
import type { BrokerView } from './broker-view.js';
import { ServerMetrics } from '../metrics/sample.js';
import { PrometheusExporter } from '../metrics/prometheus.js';
import { TrafficHistory } from '../metrics/traffic-history.js';
import type { TrafficPoint } from '../metrics/stats.js';
import { accessOf, canRead, type AccessPolicy } from './access.js';
import { PendingResponse, STATUS, passUpgrade, readBody } from './respond.js';
import { LiveFeed } from './live-feed.js';
import { MessageTail } from './message-tail.js';
import { SendError, parseSendRequest, prepareSignal, sendPrepared } from './send-signal.js';
import { payloadPreview } from './payload-preview.js';
import { pageLimit } from './paging.js';
import { loadStaticAssets } from './static-assets.js';
import { requestAddress, requestBudgetOf } from './request-budget.js';
import { DASHBOARD_HTML } from './page.js';
import { DASHBOARD_CSS } from './page-style.js';
import { LIST_LIMIT, type AccessLevel, type HelloFrame, type StatusBody, type TickFrame } from './dashboard-types.js';


export interface HttpHandle {
  /** The sample every exporter reads; the `-m` console tables may use it too. */
  readonly metrics: ServerMetrics;
  /** Stops timers and ends open live feeds; call at shutdown. */
  close(): void;
}

const SEND_BODY_LIMIT = 64 * 1024;
const EMPTY_PAGE: { items: never[]; next: null } = { items: [], next: null };
const PAGE_SECURITY: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"],
  ['Referrer-Policy', 'no-referrer'],
];

/** The refusal for a request below the level it needs. */
function refuse(pending: PendingResponse, policy: AccessPolicy, action: string): void {
  if (policy.adminToken !== null) {
    pending.send(STATUS.unauthorized, 'application/json; charset=utf-8', JSON.stringify({ error: `${action} needs the admin token` }), [
      ['WWW-Authenticate', 'Bearer realm="iosig"'],
    ]);
    return;
  }
  const why = action === 'sending' ? 'sending is off: the server has no admin token' : `${action} is for loopback clients only`;
  pending.json(STATUS.forbidden, { error: why });
}

/**
 * `sharedMetrics`: the server's own ServerMetrics when it also feeds the `-m` tables (its owner closes it);
 * without it the routes make and close their own.
 */
export function registerHttpRoutes(app: uWS.TemplatedApp, server: BrokerView, sharedMetrics?: ServerMetrics): HttpHandle {
  const policy: AccessPolicy = { adminToken: server.options.adminToken, fronted: server.options.tls?.ca !== undefined };
  const metrics = sharedMetrics ?? new ServerMetrics(server);
  const exporter = new PrometheusExporter(metrics);
  const assets = loadStaticAssets();
  const tail = new MessageTail(server.events, (frame) => feed.send('tail', frame));
  const feed = new LiveFeed((hasReaders) => tail.setActive(hasReaders));
  const history = new TrafficHistory(server.traffic, (point) => sendTick(point));
  const budget = requestBudgetOf(app, policy.fronted);

  function sendTick(traffic: TrafficPoint): void {
    if (feed.size === 0) return;
    const counters: TickFrame = { metrics: metrics.sample(), traffic };
    if (!feed.hasReaders) return feed.send('tick', counters, counters);
    const full: TickFrame = {
      ...counters,
      connections: server.firstConnections(LIST_LIMIT),
      channels: server.firstChannels(LIST_LIMIT),
    };
    feed.send('tick', full, counters);
  }

  app.get('/', (res, req) => {
    if (passUpgrade(req) || !budget.admit(res, req)) return;
    new PendingResponse(res).send(STATUS.ok, 'text/html; charset=utf-8', DASHBOARD_HTML, PAGE_SECURITY);
  });

  app.get('/static/:name', (res, req) => {
    if (passUpgrade(req) || !budget.admit(res, req)) return;
    const name = req.getParameter(0);
    const pending = new PendingResponse(res);
    if (name === 'dashboard.css') return pending.send(STATUS.ok, 'text/css; charset=utf-8', DASHBOARD_CSS);
    const script = assets.get(name);
    if (script) return pending.send(STATUS.ok, 'text/javascript; charset=utf-8', script);
    pending.send('404 Not Found', 'text/plain; charset=utf-8', 'not found\n');
  });

  app.get('/metrics', (res, req) => {
    if (passUpgrade(req) || !budget.admit(res, req)) return;
    const pending = new PendingResponse(res);
    exporter.scrape().then(
      (text) => pending.send(STATUS.ok, exporter.contentType, text),
      (err: unknown) => pending.send(STATUS.error, 'text/plain; charset=utf-8', `${String(err)}\n`),
    );
  });

  app.get('/api/status', (res, req) => {
    if (passUpgrade(req) || !budget.admit(res, req)) return;
    const access = accessOf(req, res, policy);
    const pending = new PendingResponse(res);
    if (!canRead(access)) return refuse(pending, policy, 'the status API');
    const limit = pageLimit(req.getQuery('limit'));
    const list = req.getQuery('list') ?? '';
    const afterSsid = Number.parseInt(req.getQuery('connections') ?? '', 10);
    const afterKey = req.getQuery('channels');
    const connections = list === 'channels' ? EMPTY_PAGE : server.connectionPage(Number.isSafeInteger(afterSsid) ? afterSsid : 0, limit);
    const channels = list === 'connections' ? EMPTY_PAGE : server.channelPage(afterKey ? afterKey : null, limit);
    const body: StatusBody = {
      access,
      metrics: metrics.sample(),
      limit,
      connections: connections.items,
      channels: channels.items,
      next: { connections: connections.next, channels: channels.next },
    };
    pending.json(STATUS.ok, body);
  });

  app.get('/api/events', (res, req) => {
    if (passUpgrade(req) || !budget.admit(res, req)) return;
    const access: AccessLevel = accessOf(req, res, policy);
    const hello: HelloFrame = {
      access,
      tokenConfigured: policy.adminToken !== null,
      history: history.list(),
      tail: canRead(access) ? tail.recent() : [],
    };
    if (!feed.open(res, access, requestAddress(res, req, policy.fronted), hello)) new PendingResponse(res).json(STATUS.unavailable, { error: 'too many live dashboards' });
  });

  app.post('/api/signal', (res, req) => {
    if (!budget.admit(res, req)) return;
    const access = accessOf(req, res, policy);
    const contentType = req.getHeader('content-type');
    // The client address as the sessions' rules see one (behind a trusted proxy, the forwarded one).
    const peer = { peerIp: Buffer.from(res.getRemoteAddressAsText()).toString(), forwardedFor: req.getHeader('x-forwarded-for') || undefined };
    const pending = new PendingResponse(res);
    if (access !== 'admin') return refuse(pending, policy, 'sending');
    if (!contentType.startsWith('application/json')) return pending.json(STATUS.unsupported, { error: 'send JSON' });
    void readBody(pending, SEND_BODY_LIMIT).then((body) => {
      if (pending.finished) return;
      if (body === null) return pending.json(STATUS.tooLarge, { error: `the body is over ${SEND_BODY_LIMIT} bytes` });
      try {
        const signal = prepareSignal(parseSendRequest(JSON.parse(body.toString('utf8'))));
        // The access rules' subject `dashboard` (README, Security): what they do not allow is refused.
        if (!server.dashboardMay(signal.tag, signal.everyone, peer)) return pending.json(STATUS.forbidden, { error: 'access denied' });
        const result = sendPrepared(server, signal);
        tail.add({
          time: Date.now(),
          tag: signal.tag,
          payloadType: signal.payloadType,
          bytes: signal.payload.length + Buffer.byteLength(signal.tag) + 3,
          from: 'dashboard',
          preview: payloadPreview(signal.payloadType, signal.payload),
        });
        pending.json(STATUS.ok, result);
      } catch (err) {
        const message = err instanceof SendError || err instanceof SyntaxError ? err.message : `cannot send: ${String(err)}`;
        pending.json(STATUS.badRequest, { error: message });
      }
    });
  });

  return {
    metrics,
    close(): void {
      history.close();
      feed.close();
      tail.close();
      if (!sharedMetrics) metrics.close();
    },
  };
}
