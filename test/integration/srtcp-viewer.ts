/**
 * A viewer's side of SRTCP for tests: fresh DTLS-SRTP master keys and werift's own
 * SrtcpSession protecting with them (what a werift viewer runs), so what the relay
 * unprotects was made by an independent implementation.
 */
import { randomBytes } from 'node:crypto';
import * as werift from 'werift';

/** Keys (as `InboundRtcp.add` takes them) and `protect`, werift's SRTCP encrypt with those keys. */
export function viewerSide(profile: number, saltLength: number) {
  const masterKey = randomBytes(16);
  const masterSalt = randomBytes(saltLength);
  const config = { keys: { localMasterKey: masterKey, localMasterSalt: masterSalt, remoteMasterKey: masterKey, remoteMasterSalt: masterSalt }, profile };
  const srtcp = new werift.SrtcpSession(config as never);
  return { keys: { profile, masterKey, masterSalt }, protect: (plain: Buffer): Buffer => srtcp.encrypt(plain) };
}
