/**
 * Routable addresses of a local cluster: the API server's and each node's InternalIP (namespaces.ts).
 * Loopback will not do (the kubelet refuses it as a node IP, and a pod's 127.0.0.1 is its own), so each
 * one is a random address of 198.18.0.0/15 (RFC 2544's benchmarking range, never routed on the internet).
 * The API server's is on a link of its own in the host's network namespace: a bridge with no ports (this
 * kernel has no dummy links), which holds the address and carries no traffic. The link's name goes into
 * `<dir>/address-link`, where clean-cluster.sh finds it to delete it, address included.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const testRange = '198.18.0.0/15';
const addressLinkFile = 'address-link';

/**
 * A random host address of 198.18.0.0/15 that no link of this host holds and no route of it leads to (a
 * node's address is in its own network namespace, with a route to it on the host).
 */
export function freeTestAddress(): string {
  const ip = (args: readonly string[]): string =>
    execFileSync('ip', ['-o', '-4', ...args], { encoding: 'utf8' });
  const taken = new Set(
    `${ip(['addr', 'show', 'to', testRange])} ${ip(['route', 'show', 'root', testRange])}`.split(/[\s/]+/),
  );
  for (let attempt = 0; attempt < 100; attempt++) {
    const address = `198.${18 + randomInt(2)}.${randomInt(256)}.${1 + randomInt(254)}`;
    if (!taken.has(address)) return address;
  }
  throw new Error(`no free address in ${testRange}`);
}

/** Puts a free test address on a new link recorded in `dir`; returns the address. */
export function addTestAddress(dir: string): string {
  const link = `tipam${randomBytes(4).toString('hex')}a`;
  fs.writeFileSync(path.join(dir, addressLinkFile), link);
  const address = freeTestAddress();
  execFileSync('ip', ['link', 'add', link, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', `${address}/32`, 'dev', link]);
  execFileSync('ip', ['link', 'set', link, 'up']);
  return address;
}
