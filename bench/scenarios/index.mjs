/**
 * The scenarios, in run order. A scenario is a module exporting
 *   id, title, item (issue 4 item number), budgetS? ({ smoke, quick, full } seconds),
 *   run(ctx) → { status: 'ok'|'partial'|'missing', missing: [{ what, reason }], notes: [], params, data }
 *   report(result, charts) → markdown (optional), headline(result) → string (optional).
 * A scenario that cannot run returns status 'missing' with the reason; it never fakes
 * numbers. To add one: write scenarios/<id>.mjs and list it here.
 */
import * as egress from './egress.mjs';
import * as windowTradeoff from './window.mjs';
import * as receive from './receive.mjs';
import * as peers from './peers.mjs';
import * as weriftEgress from './werift.mjs';
import * as relay from './relay.mjs';

export const SCENARIOS = [egress, windowTradeoff, receive, peers, weriftEgress, relay];
