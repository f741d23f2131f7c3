import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A test PKI made with the `openssl` command line, as a public CA's is shaped: a root, an
 * intermediate signed by it, and leaf certificates for localhost and 127.0.0.1 signed by the
 * intermediate. Servers send `leaf + intermediate` (the full chain) or the leaf alone.
 */
export interface TestPki {
  dir: string;
  rootFile: string;
  root: string;
  intermediate: string;
  /** Valid for localhost and 127.0.0.1 for a year. */
  leaf: { key: string; cert: string };
  /** Valid, but for five more days only. */
  expiringSoon: { key: string; cert: string };
  /** Expired in 2020. */
  expired: { key: string; cert: string };
  /** Valid, but for other.example only. */
  otherHost: { key: string; cert: string };
  cleanup(): void;
}

const LEAF_EXT = [
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature, keyEncipherment',
  'extendedKeyUsage = serverAuth',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
].join('\n');

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'linkbridge-pki-'));
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(name));

  writeFileSync(f('ca.ext'), ['basicConstraints = critical, CA:TRUE, pathlen:0', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid'].join('\n'));
  key('root.key');
  openssl('req', '-x509', '-new', '-key', f('root.key'), '-out', f('root.pem'), '-days', '3650', '-subj', '/O=Linkbridge tests/CN=Linkbridge Test Root CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  key('intermediate.key');
  openssl('req', '-new', '-key', f('intermediate.key'), '-out', f('intermediate.csr'), '-subj', '/O=Linkbridge tests/CN=Linkbridge Test Intermediate CA');
  openssl('x509', '-req', '-in', f('intermediate.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-set_serial', '0x1001', '-days', '3650', '-extfile', f('ca.ext'), '-out', f('intermediate.pem'));

  const leafCsr = (name: string, cn: string) => {
    key(`${name}.key`);
    openssl('req', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
  };
  const signLeaf = (name: string, san: string, days: number, serial: string) => {
    writeFileSync(f(`${name}.ext`), `${LEAF_EXT}\nsubjectAltName = ${san}\n`);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('intermediate.pem'), '-CAkey', f('intermediate.key'), '-set_serial', serial, '-days', String(days), '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  leafCsr('leaf', 'localhost');
  signLeaf('leaf', 'DNS:localhost, IP:127.0.0.1', 365, '0x2001');
  leafCsr('soon', 'localhost');
  signLeaf('soon', 'DNS:localhost, IP:127.0.0.1', 5, '0x2002');
  leafCsr('other', 'other.example');
  signLeaf('other', 'DNS:other.example', 365, '0x2003');

  // An expired leaf: `openssl ca` takes explicit dates (OpenSSL 3.0's x509 -req has no -not_before).
  leafCsr('expired', 'localhost');
  writeFileSync(f('index.txt'), '');
  writeFileSync(f('serial'), '2004\n');
  writeFileSync(
    f('ca.cnf'),
    [
      '[ ca ]',
      'default_ca = test_ca',
      '[ test_ca ]',
      `database = ${f('index.txt')}`,
      `new_certs_dir = ${dir}`,
      `serial = ${f('serial')}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'email_in_dn = no',
      '[ any ]',
      'commonName = supplied',
      '[ leaf ]',
      LEAF_EXT,
      'subjectAltName = DNS:localhost, IP:127.0.0.1',
    ].join('\n'),
  );
  openssl('ca', '-batch', '-notext', '-config', f('ca.cnf'), '-cert', f('intermediate.pem'), '-keyfile', f('intermediate.key'), '-in', f('expired.csr'), '-out', f('expired.pem'), '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extensions', 'leaf');

  const read = (name: string) => readFileSync(f(name), 'utf8');
  const pair = (name: string) => ({ key: read(`${name}.key`), cert: read(`${name}.pem`) });
  return {
    dir,
    rootFile: f('root.pem'),
    root: read('root.pem'),
    intermediate: read('intermediate.pem'),
    leaf: pair('leaf'),
    expiringSoon: pair('soon'),
    expired: pair('expired'),
    otherHost: pair('other'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
