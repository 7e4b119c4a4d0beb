/**
 * The player page served at `GET /`: plays a stream through WHEP (RFC 9725) in the
 * browser's own WebRTC stack, no library. `?stream=NAME` picks the stream (default: the
 * first), `?token=T` sends a Bearer token. It exposes `window.__whep` (peer connection,
 * resource URL) and shows frames decoded, so tests and people can see it play. When the
 * page goes away (`pagehide`: tab closed, navigation) it sends the WHEP DELETE with
 * `fetch(..., { keepalive: true })`, so the relay frees the viewer at once instead of
 * waiting for it to fall silent.
 */
export function playerPage(streams: readonly string[]): string {
  const list = JSON.stringify(streams);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rtp-relay</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 2rem; background: #111; color: #eee; }
  video { width: 640px; max-width: 100%; background: #000; display: block; margin: 1rem 0; }
  #status { font-family: ui-monospace, monospace; }
  a { color: #9cf; }
</style>
</head>
<body>
<h1>rtp-relay</h1>
<p>Streams: <span id="streams"></span></p>
<video id="video" autoplay muted playsinline controls></video>
<p id="status">connecting…</p>
<p><button id="stop">Leave (DELETE)</button></p>
<script type="module">
const streams = ${list};
const params = new URLSearchParams(location.search);
const stream = params.get('stream') || streams[0];
const token = params.get('token');
document.getElementById('streams').innerHTML = streams.map((s) => '<a href="?stream=' + encodeURIComponent(s) + '">' + s + '</a>').join(' ');
const status = document.getElementById('status');
const video = document.getElementById('video');
const headers = { 'Content-Type': 'application/sdp' };
if (token) headers.Authorization = 'Bearer ' + token;

const pc = new RTCPeerConnection();
pc.addTransceiver('video', { direction: 'recvonly' });
pc.addTransceiver('audio', { direction: 'recvonly' });
const media = new MediaStream();
pc.ontrack = (e) => { media.addTrack(e.track); video.srcObject = media; };
window.__whep = { pc, stream, resource: null, error: null, left: false };

async function start() {
  await pc.setLocalDescription(await pc.createOffer());
  // WHEP without trickle ICE: send the offer once gathering is done (or after 2 s).
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const t = setTimeout(resolve, 2000);
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); } });
  });
  const res = await fetch('/whep/' + encodeURIComponent(stream), { method: 'POST', headers, body: pc.localDescription.sdp });
  if (res.status !== 201) throw new Error('WHEP ' + res.status + ': ' + (await res.text()));
  window.__whep.resource = new URL(res.headers.get('Location'), location.href).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
}

async function leave() {
  if (window.__whep.resource && !window.__whep.left) {
    window.__whep.left = true;
    await fetch(window.__whep.resource, { method: 'DELETE', headers });
  }
  pc.close();
  status.textContent = 'left';
}
document.getElementById('stop').onclick = leave;
// Leaving the page: DELETE the WHEP resource; keepalive lets the request outlive the page.
addEventListener('pagehide', () => {
  const url = window.__whep.resource;
  if (!url || window.__whep.left) return;
  window.__whep.left = true;
  fetch(url, { method: 'DELETE', headers, keepalive: true }).catch(() => {});
  pc.close();
});

start().catch((err) => { window.__whep.error = String(err); status.textContent = String(err); });
// Once a second while the connection is open: what the browser decoded.
async function showStats() {
  if (pc.connectionState === 'closed') return;
  let frames = 0, packets = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') { frames = r.framesDecoded || 0; packets += r.packetsReceived || 0; }
  });
  status.textContent = stream + ': ' + pc.connectionState + ', frames decoded ' + frames + ', video packets ' + packets;
  setTimeout(showStats, 1000);
}
showStats();
</script>
</body>
</html>
`;
}
