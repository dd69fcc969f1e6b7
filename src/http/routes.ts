// HTTP routes on the WebSocket port. Placeholder until the metrics/dashboard routes land: registers nothing.
import type uWS from 'uWebSockets.js';
import type { IosigServer } from '../server.js';

export interface HttpHandle {
  close(): void;
}

export function registerHttpRoutes(_app: uWS.TemplatedApp, _server: IosigServer): HttpHandle {
  return { close: () => undefined };
}
