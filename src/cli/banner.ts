// Bordered text boxes for the io-server console: the serving banner and the usage hints (docs/protocol.md §9.2, Q16).
import { networkInterfaces } from 'node:os';

const GREEN = '\x1b[32m';
const YELLOW = '\x1b[33m';
const RESET = '\x1b[0m';

export type BoxColor = 'green' | 'yellow';

/**
 * Draws `lines` inside a single-line box with one column of padding and a blank line above and below.
 * The border is coloured only when `color` is given (callers pass it only when writing to a TTY).
 */
export function box(lines: readonly string[], color?: BoxColor): string {
  const width = Math.max(0, ...lines.map((line) => line.length)) + 6;
  const paint = (text: string): string =>
    color === undefined ? text : `${color === 'green' ? GREEN : YELLOW}${text}${RESET}`;
  const row = (text: string): string => `${paint('│')}   ${text.padEnd(width - 6)}   ${paint('│')}`;
  const out: string[] = [paint(`┌${'─'.repeat(width)}┐`), row('')];
  for (const line of lines) out.push(row(line));
  out.push(row(''), paint(`└${'─'.repeat(width)}┘`));
  return out.join('\n');
}

const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]', '::0']);

/**
 * The address other machines should use: the first non-internal IPv4 address when the server is bound to
 * every interface, the bind address itself otherwise, and 127.0.0.1 when the machine has no external IPv4.
 */
export function networkAddress(host = '0.0.0.0'): string {
  if (!WILDCARD_HOSTS.has(host)) return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const info of addresses ?? []) {
      if (info.family === 'IPv4' && !info.internal) return info.address;
    }
  }
  return '127.0.0.1';
}

export interface BannerPorts {
  wsPort?: number | undefined;
  congPort?: number | undefined;
  /** The dashboard, `/metrics` and `/api/status` are served on the WebSocket port (unless turned off). */
  http?: boolean | undefined;
  mqttPort?: number | undefined;
  /** MQTT over WebSocket on the WebSocket port. */
  mqttWs?: boolean;
}

/** The lines of the serving banner, without the border. */
export function bannerLines(ports: BannerPorts, ip: string, tls = false): string[] {
  const lines: string[] = ['Serving'];
  const wsScheme = tls ? 'wss' : 'ws';
  const congScheme = tls ? 'congs' : 'cong';
  const suffix = tls ? ' (TLS)' : '';
  if (ports.wsPort !== undefined) {
    lines.push(
      '',
      `iosig over WebSocket${suffix} — Web Browser & Node.js`,
      `- Local:   ${wsScheme}://localhost:${ports.wsPort}`,
      `- Network: ${wsScheme}://${ip}:${ports.wsPort}`,
    );
    if (ports.http !== false) {
      const web = tls ? 'https' : 'http';
      lines.push(
        '',
        `Dashboard: ${web}://localhost:${ports.wsPort}/`,
        `Metrics:   ${web}://localhost:${ports.wsPort}/metrics`,
      );
    }
  }
  if (ports.congPort !== undefined) {
    lines.push(
      '',
      `iosig over CongSocket${suffix} — Node.js & Arduino`,
      `- Local:   ${congScheme}://localhost:${ports.congPort}`,
      `- Network: ${congScheme}://${ip}:${ports.congPort}`,
      `Arduino  - host: ${ip}  - port: ${ports.congPort}`,
    );
  }
  if (ports.mqttPort !== undefined) {
    const mqttScheme = tls ? 'mqtts' : 'mqtt';
    lines.push('', `MQTT 3.1.1 and 5${suffix} — devices, gateways, Node-RED, Home Assistant`, `- Local:   ${mqttScheme}://localhost:${ports.mqttPort}`, `- Network: ${mqttScheme}://${ip}:${ports.mqttPort}`);
  }
  if (ports.mqttWs === true && ports.wsPort !== undefined) lines.push(`MQTT over WebSocket: ${wsScheme}://${ip}:${ports.wsPort}/mqtt (subprotocol mqtt)`);
  return lines;
}

/** The usage hints printed when neither a WebSocket nor a CongSocket port is given (Q16). */
export function usageLines(): string[] {
  return [
    'io-server needs at least one port to listen on:',
    '',
    'io-server -l 7777              WebSocket (browsers, Node.js)',
    'io-server -L 8888              CongSocket (Arduino, Node.js)',
    'io-server -l 7777 -L 8888      both',
    'io-server -M 1883              MQTT 3.1.1 and 5 (add it to the others: -l 7777 -L 8888 -M 1883)',
    'io-server -h                   every option',
  ];
}
