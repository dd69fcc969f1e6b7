// Pipelined HTTP requests on the WebSocket port. uWS parses a whole socket read (up to 512 KiB) at once and calls
// a route handler for every request in it before the event loop moves on: one connection that wrote 700 KB of
// `GET /metrics` and never read cost 1 to 2 s of CPU in one go, and other clients saw stalls of over a second. So
// one client address may have at most HTTP_REQUESTS_PER_TURN requests answered per event-loop turn (routes, the
// catch-all and refused upgrades together); the request past that has its connection closed, which also ends
// uWS's parsing of whatever else that read held. Browsers, curl and Prometheus send a request and wait for its
// answer.
import type uWS from 'uWebSockets.js';
import { PEER_HEADER, peerFromFront } from '../transport/tls-front.js';

/** Requests one client address may have answered in one event-loop turn. */
export const HTTP_REQUESTS_PER_TURN = 64;

/** The peer of a request: the socket's address, or behind the mutual-TLS front the peer the front names. */
export function requestAddress(res: uWS.HttpResponse, req: uWS.HttpRequest, fronted: boolean): string {
  return fronted ? (peerFromFront(req.getHeader(PEER_HEADER))?.ip ?? '') : Buffer.from(res.getRemoteAddressAsText()).toString();
}

/** The one budget of an app: its HTTP routes, its catch-all and its refused upgrades count together. */
const budgets = new WeakMap<uWS.TemplatedApp, RequestBudget>();

export function requestBudgetOf(app: uWS.TemplatedApp, fronted: boolean): RequestBudget {
  let budget = budgets.get(app);
  if (!budget) budgets.set(app, (budget = new RequestBudget(fronted)));
  return budget;
}

export class RequestBudget {
  private readonly counts = new Map<string, number>();
  private clearing = false;

  constructor(
    /** Mutual TLS: every request comes from the local TLS front, which names the real peer in PEER_HEADER. */
    private readonly fronted: boolean,
    private readonly limit = HTTP_REQUESTS_PER_TURN,
  ) {}

  /**
   * Call first in a route handler. True when the request may be answered; false after closing its connection
   * (the handler must then leave `res` alone).
   */
  admit(res: uWS.HttpResponse, req: uWS.HttpRequest): boolean {
    const ip = requestAddress(res, req, this.fronted);
    const count = (this.counts.get(ip) ?? 0) + 1;
    this.counts.set(ip, count);
    if (!this.clearing) {
      this.clearing = true;
      setImmediate(() => {
        this.counts.clear();
        this.clearing = false;
      });
    }
    if (count <= this.limit) return true;
    res.close();
    return false;
  }
}
