// `sudo remote <cid> [mode]` (docs/protocol.md §7.4): what the broker knows about one connection, in four views.
import type { ConnectionInfo } from '../info.js';
import type { MbpValue } from '../protocol/mbp.js';
import type { ServiceHost } from './service.js';

const DEFAULT_MODE = 1;

/** The view for `mode`, `{result: "nop"}` for an unknown cid, undefined for a mode outside 1–4 (no body). */
export function describeRemote(host: ServiceHost, cid: string, mode: MbpValue | undefined): object | undefined {
  const info = host.connectionByCid(cid);
  if (!info) return { result: 'nop' };
  const uptime = Math.trunc(info.uptimeMs / 1000);
  // The reference compares with ==, so the text "2" selects mode 2; Number() gives the same answers.
  switch (mode === undefined ? DEFAULT_MODE : Number(mode)) {
    case 1:
      return {
        ip: info.ip, id: info.cid, ssid: info.ssid, cid: info.cid, uid: info.uid, uptime,
        tx: info.messagesOut, rx: info.messagesIn, txBytes: info.bytesOut, rxBytes: info.bytesIn,
      };
    case 2:
      return { ip: info.ip, uptime, nick: info.nick, ssid: info.ssid };
    case 3:
      return { ip: info.ip, uptime, nick: info.nick, ssid: info.ssid, isSecure: info.tls, isAuth: info.authorized, encMode: 'AUTO' };
    case 4:
      // Q26 fix: the reference reads a store that does not exist here; `set` is always empty.
      return { ip: info.ip, uptime, channels: info.channels, set: [], retain: host.retainedTopicsOf(cid) };
    default:
      return undefined;
  }
}

/** `#<ssid>:<cid>(<state>)`, the line `sudo remotes` gives per connection. */
export function remoteLine(info: ConnectionInfo): string {
  return `#${info.ssid}:${info.cid}(${info.state})`;
}
