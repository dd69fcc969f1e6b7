// Certificates for device identity tests, made with openssl at run time (test-only, valid 2 days):
// a CA, a server certificate for localhost/127.0.0.1/::1, one client certificate per device name
// (the name as CN, or as a DNS SAN with another CN), and a rogue client signed by nobody we trust; `issue` makes
// a client certificate with any subject and alternative names (several device names in one certificate).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from './tools.js';

export interface DevicePki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Paths of a device's certificate and key. */
  device(name: string): { cert: string; key: string };
  rogue: { cert: string; key: string };
  /** A client certificate signed by the CA: `subject` like '/CN=ghost', `altNames` like 'DNS:dev2,DNS:adm'. */
  issue(file: string, subject: string, altNames?: string): { cert: string; key: string };
  read(path: string): Buffer;
  remove(): void;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** `devices`: names that become CNs; `sanDevices`: names carried only as a DNS SAN (CN "sensor board"). */
export function makeDevicePki(devices: readonly string[], sanDevices: readonly string[] = []): DevicePki {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-devpki-'));
  const run = (args: string[]): void => {
    execFileSync(tool('openssl'), args, { cwd: dir, stdio: 'ignore' });
  };
  run(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=iosig device CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run(['req', ...EC, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext']);
  const issue = (file: string, subject: string, altNames?: string): void => {
    writeFileSync(join(dir, `${file}.ext`), `extendedKeyUsage=clientAuth\n${altNames ? `subjectAltName=${altNames}\n` : ''}`);
    run(['req', ...EC, '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', subject]);
    run(['x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${file}.pem`, '-days', '2', '-extfile', `${file}.ext`]);
  };
  for (const name of devices) issue(`dev-${name}`, `/CN=${name}`);
  for (const name of sanDevices) issue(`dev-${name}`, '/CN=sensor board', `DNS:${name}`);
  run(['req', '-x509', ...EC, '-keyout', 'rogue.key', '-out', 'rogue.pem', '-days', '2', '-subj', `/CN=${devices[0] ?? 'rogue'}`]);
  const path = (name: string): string => join(dir, name);
  return {
    dir,
    ca: path('ca.pem'),
    serverCert: path('server.pem'),
    serverKey: path('server.key'),
    device: (name) => ({ cert: path(`dev-${name}.pem`), key: path(`dev-${name}.key`) }),
    rogue: { cert: path('rogue.pem'), key: path('rogue.key') },
    issue: (file, subject, altNames) => {
      issue(file, subject, altNames);
      return { cert: path(`${file}.pem`), key: path(`${file}.key`) };
    },
    read: (p) => readFileSync(p),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
