// What an MQTT CONNECT presents, in the form iosig's login sources judge (README, MQTT, "Logins"): a JWT as the
// password (when JWT logins are on), else a verified client certificate, else a username and password (a device
// id and its key, or whatever the auth hook makes of them). The certificate is kept beside a token: the token
// names the device, the certificate stays a subject the access rules' `cert:` match (as on wss).
import { looksLikeJwt } from '../auth/credentials.js';
import type { PresentedIdentity } from '../guard/identity.js';
import type { AuthRequest } from './port.js';

/** Which sources could judge a login here. */
export interface MqttJudges {
  readonly store: boolean;
  readonly jwt: boolean;
  readonly hook: boolean;
}

/** What the client presented; null when nothing any source here could judge (an anonymous client). */
export function mqttPresented(request: AuthRequest, judges: MqttJudges): PresentedIdentity | null {
  const password = request.password?.toString('utf8') ?? '';
  if (judges.jwt && looksLikeJwt(password)) return { kind: 'token', token: password };
  if (!judges.store && !judges.hook) return null;
  const certificate = request.certificateNames?.[0];
  if (certificate !== undefined) return { kind: 'certificate', id: certificate };
  if (request.username !== undefined && request.username !== '') return { kind: 'bearer', id: request.username, key: password };
  return null;
}
