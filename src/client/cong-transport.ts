// CongSocket transport (docs/protocol.md §1.2): length-prefixed frames over TCP, or over TLS for congs://.
import net from 'node:net';
import tls from 'node:tls';
import { CongDecoder, encodeFrame } from '../protocol/congsocket.js';
import type { ServerAddress } from './url.js';
import { describeSocketError, onceClosed, type Transport, type TransportHandlers, type TransportOptions } from './transport.js';

/** How long a graceful close may wait for the server's FIN. */
const CLOSE_GRACE_MS = 1000;

/** @internal */
export function openCongTransport(address: ServerAddress, rawHandlers: TransportHandlers, options: TransportOptions): Transport {
  const handlers = onceClosed(rawHandlers);
  const socket = address.tls
    ? tls.connect({ host: address.host, port: address.port, ...(net.isIP(address.host) ? {} : { servername: address.host }), ...options.tls })
    : net.connect({ host: address.host, port: address.port });
  // Small frames (PING, ECHO, short signals) should not wait for Nagle.
  socket.setNoDelay(true);
  let failure: Error | undefined;
  let opened = false;

  const decoder = new CongDecoder(
    {
      frame: (payload) => handlers.message(Buffer.from(payload)),
      error: (kind, detail) => {
        failure = new Error(kind === 'too-large' ? `server frame of ${detail} bytes is over the limit` : `bad frame type 0x${detail.toString(16)}`);
        socket.destroy();
      },
    },
    options.maxMessageSize,
  );

  const connectTimer = setTimeout(() => {
    failure = new Error(`no connection within ${options.connectTimeoutMs} ms`);
    socket.destroy();
  }, options.connectTimeoutMs);

  socket.once(address.tls ? 'secureConnect' : 'connect', () => {
    clearTimeout(connectTimer);
    opened = true;
    handlers.open();
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('error', (error: Error) => {
    failure ??= error;
  });
  socket.on('close', () => {
    clearTimeout(connectTimer);
    decoder.stop();
    if (failure) handlers.close(describeSocketError(failure), failure);
    else handlers.close(opened ? 'closed by the server' : 'closed before connecting');
  });

  return {
    send(message) {
      if (!socket.destroyed && socket.writable) socket.write(encodeFrame(message));
    },
    close() {
      if (socket.destroyed) return;
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    },
  };
}
