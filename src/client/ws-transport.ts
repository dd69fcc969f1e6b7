// WebSocket transport (docs/protocol.md §1.1): one binary frame carries one message.
import WebSocket from 'ws';
import type { ServerAddress } from './url.js';
import { describeSocketError, onceClosed, type Transport, type TransportHandlers, type TransportOptions } from './transport.js';

/** @internal The upgrade header a client declares its device kind with (iosig servers read it). */
export const DEVICE_HEADER = 'X-Iosig-Device';

/** @internal */
export function openWsTransport(address: ServerAddress, rawHandlers: TransportHandlers, options: TransportOptions): Transport {
  const handlers = onceClosed(rawHandlers);
  const socket = new WebSocket(address.href, {
    perMessageDeflate: false,
    handshakeTimeout: options.connectTimeoutMs,
    maxPayload: options.maxMessageSize,
    ...(options.device ? { headers: { [DEVICE_HEADER]: options.device } } : {}),
    ...(address.tls ? options.tls : {}),
  });
  socket.binaryType = 'nodebuffer';
  let failure: Error | undefined;

  socket.on('open', () => handlers.open());
  // Clients read the type from the first byte even in a text frame (§1.1), so both kinds are messages.
  socket.on('message', (data: Buffer) => handlers.message(data));
  socket.on('pong', () => handlers.pong());
  socket.on('unexpected-response', (_req, res) => {
    failure = new Error(`the server answered the WebSocket upgrade with HTTP ${res.statusCode ?? '?'}`);
    socket.terminate();
  });
  socket.on('error', (error: Error) => {
    failure ??= error;
  });
  socket.on('close', (code: number, reason: Buffer) => {
    if (failure) handlers.close(describeSocketError(failure), failure);
    else handlers.close(reason.length > 0 ? `closed (${code} ${reason.toString()})` : `closed (${code})`);
  });

  return {
    send(message) {
      if (socket.readyState === WebSocket.OPEN) socket.send(message, { binary: true });
    },
    close() {
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close();
    },
  };
}
