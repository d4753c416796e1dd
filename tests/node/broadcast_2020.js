// A stand-in for EnableX's 2020 broadcast sample apps, written the way they are written:
// https.request to the hard-coded host on the emulator's port, `Content-Length: data.length`
// (a character count), webhooks always decrypted with crypto.createDecipher, the reaction
// emitted after the webhook is answered. Prints a JSON summary and exits on the completion.
// Usage: node broadcast_2020.js PORT APP_ID APP_KEY NUMBER FROM
const http = require('http');
const https = require('https');
const { createDecipher } = require('crypto');
const { EventEmitter } = require('events');

const [port, appId, appKey, number, from] = process.argv.slice(2);
const lookup = (host, opts, cb) => (opts && opts.all
  ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
const auth = `Basic ${Buffer.from(`${appId}:${appKey}`).toString('base64')}`;
const summary = { responses: [], chain: [], events: [] };
const emitter = new EventEmitter();
const call = {};

function api(method, path, data, callback) {
  const headers = { Authorization: auth, 'Content-Type': 'application/json' };
  if (data !== undefined) headers['Content-Length'] = data.length;
  const req = https.request({ host: 'api.enablex.io', port, path, method, headers, lookup },
    (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        const msg = JSON.parse(body); // the samples parse without a guard
        summary.responses.push({ method, path: path.split('/').slice(0, 4).join('/'), status: res.statusCode });
        if (callback) callback(msg);
      });
    });
  req.on('error', (e) => { console.error(`request error ${e.message}`); process.exit(4); });
  if (data !== undefined) req.write(data);
  req.end();
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (chunk) => { raw += chunk; });
  req.on('end', () => {
    const body = JSON.parse(raw);
    const key = createDecipher(req.headers['x-algoritm'], appId);
    let text = key.update(body.encrypted_data, req.headers['x-format'], req.headers['x-encoding']);
    text += key.final(req.headers['x-encoding']);
    res.statusCode = 200;
    res.end();
    emitter.emit('voicestateevent', JSON.parse(text));
  });
});

emitter.on('voicestateevent', (ev) => {
  summary.events.push(ev.state || `play:${ev.playstate}:${ev.prompt_ref}`);
  if (ev.state === 'connected') {
    summary.chain.push('connected');
  } else if (ev.state === 'disconnected') {
    summary.chain.push('disconnected');
  } else if (ev.state === 'broadcastcomplete') {
    summary.chain.push(`complete:${ev.resultSet.successfull_calls}/${ev.resultSet.failed_calls}`);
    process.stdout.write(JSON.stringify(summary));
    server.close();
    process.exit(0);
  } else if (ev.playstate === 'playfinished' && ev.prompt_ref === '1') {
    summary.chain.push('menu');
    api('POST', `/voice/v1/broadcast/${call.appInstance}`, JSON.stringify({
      voice_id: ev.voice_id,
      play: { text: 'Second level menu', voice: 'female', language: 'en-US', prompt_ref: '2', dtmf: true },
    }));
  } else if (ev.playstate === 'menutimeout' && ev.prompt_ref === '2') {
    summary.chain.push('hangup');
    api('DELETE', `/voice/v1/calls/${ev.voice_id}`, '');
  }
});

server.listen(0, '127.0.0.1', () => {
  const hook = `http://127.0.0.1:${server.address().port}/event`;
  // a request with non-ASCII text: Content-Length counts characters, so it is short
  const accented = JSON.stringify({ name: 'TEST_APP', from, broadcastnumbersjson: '[]',
    action_on_connect: { play: { text: 'Namasté', voice: 'female', language: 'en-US' } },
    event_url: hook });
  const short = new https.Agent({ keepAlive: false });
  const headers = { Authorization: auth, 'Content-Type': 'application/json', 'Content-Length': accented.length };
  const req = https.request({ host: 'api.enablex.io', port, path: '/voice/v1/broadcast', method: 'POST',
    headers, lookup, agent: short }, (res) => {
    let body = '';
    res.on('data', (chunk) => { body += chunk; });
    res.on('end', () => {
      summary.short_content_length = { status: res.statusCode, state: JSON.parse(body).state };
      api('POST', '/voice/v1/broadcast', JSON.stringify({
        name: 'TEST_APP', owner_ref: 'XYZ',
        broadcastnumbersjson: JSON.stringify([{ phone: number }]), from,
        action_on_connect: { play: { text: 'Hello there', voice: 'female', language: 'en-US', prompt_ref: '1' } },
        call_param: { IntervalBetweenRetries: 5000, NumberOfRetries: 3 },
        event_url: hook, callhandler_url: hook,
      }), (msg) => { call.appInstance = msg.appInstance; });
    });
  });
  req.on('error', (e) => { console.error(`short request error ${e.message}`); process.exit(5); });
  req.end(accented);
});
setTimeout(() => { console.error(`timed out: ${JSON.stringify(summary)}`); process.exit(6); }, 20000);
