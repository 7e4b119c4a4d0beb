/**
 * This package's name and version, read once from its package.json (found the same way the
 * addon loader finds the package root), for `--version` and the CLIs' `--json` output.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_NAME, packageRoot } from './native/locate.js';

let version: string | undefined;

/** The package's version (`0.1.0`), or `'unknown'` when its package.json cannot be read. */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      version = String((JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/**
 * Version of the shape of the CLIs' `--json` objects: bumped when a field is removed or
 * changes meaning (adding a field does not bump it).
 */
export const JSON_SCHEMA_VERSION = 1;

/** The fields every `--json` object of udp-blast starts with. */
export function jsonHeader(command: string): { command: string; version: string; schemaVersion: number; package: string } {
  return { command, version: packageVersion(), schemaVersion: JSON_SCHEMA_VERSION, package: PACKAGE_NAME };
}
