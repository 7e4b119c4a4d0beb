import * as werift from 'werift'; // CommonJS: const werift = require('werift')
import { installWeriftBatching } from 'dgram-sendmmsg-native/werift';

// Every peer connection's ICE host candidate on one batched UDP port (`true`: the kernel picks it
// at first use); omit sharedPort for one batched socket per connection.
const batching = installWeriftBatching(werift, { sharedPort: true });
// … create RTCPeerConnections as usual (a complete app: examples/werift-plug.ts) …
const s = batching.stats(); // sent, batches, syscalls, received … summed over the plug's sockets, plus drops
console.log(`${batching.topology}: ${s.sent} datagrams sent`);
await batching.uninstall(); // stock werift for connections created afterwards
