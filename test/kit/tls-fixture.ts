// A self-signed test certificate for localhost / 127.0.0.1 (valid until 2126) and a TLS front for tests.
// Test-only key material: it protects nothing.
import net from 'node:net';
import tls from 'node:tls';

export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUGQX9zMfxrQkMAotNctUv3JBAGLMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMTIwNTI1OVoYDzIxMjYxMDI4
MjA1MjU5WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATIvoST00rxXDx+sTnLapwAR43C2aDYEBhbg4BWp9eoGsU9z6pf/jQI
14MiApdAay9jKMgne/pMFowIrjuVhtRQo28wbTAdBgNVHQ4EFgQUPmILO/Ft6ybo
tgZe0kNQM9pphtMwHwYDVR0jBBgwFoAUPmILO/Ft6ybotgZe0kNQM9pphtMwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAIuFlyIban0sjnAB+qTeuGqG+iDLVucLfh6vXgTJa5qyAiB9
zkZJ9Iq8nRHBbEzDaC0f4tUPcS2fmzfEm4Q8bfypHw==
-----END CERTIFICATE-----
`;

export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgi10X/DVQEBauWoZz
IcaOiKiHIIU1Bw8wMNJ1DPSML/+hRANCAATIvoST00rxXDx+sTnLapwAR43C2aDY
EBhbg4BWp9eoGsU9z6pf/jQI14MiApdAay9jKMgne/pMFowIrjuVhtRQ
-----END PRIVATE KEY-----
`;

export interface TlsFront {
  port: number;
  close(): Promise<void>;
}

/** Terminates TLS on a free loopback port and pipes the plain bytes to `targetPort` (a stand-in for a TLS proxy). */
export async function startTlsFront(targetPort: number): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const front = tls.createServer({ cert: TEST_CERT, key: TEST_KEY }, (secure) => {
    const plain = net.connect(targetPort, '127.0.0.1');
    sockets.add(secure).add(plain);
    secure.pipe(plain).pipe(secure);
    const end = (): void => {
      secure.destroy();
      plain.destroy();
    };
    secure.on('error', end).on('close', end);
    plain.on('error', end).on('close', end);
  });
  front.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return {
    port: (front.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        front.close(() => resolve());
      }),
  };
}
