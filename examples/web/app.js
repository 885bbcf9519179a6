// The page: drives the wasm engine (pkg/, built by build.sh). Every engine call that waits for the
// GPU returns a Promise, so the page stays responsive while a model trains.
// With ?test, runs the browser test instead (kernels-tests/browser.rs) and posts its figures to /result.
import init, { Engine, Run } from './pkg/lstm_transfer_web.js';

const $ = (id) => document.getElementById(id);
const COLORS = { scratch: '#c0392b', init: '#1f77b4', freeze: '#2ca02c' };
const curves = {};          // method -> [{epoch, valid_accuracy, train_loss}]
let engine = null, lastRun = null;

function log(line, error = false) {
  const div = document.createElement('div');
  div.textContent = line;
  if (error) div.className = 'error';
  $('log').appendChild(div);
  $('log').scrollTop = $('log').scrollHeight;
}

// wgpu cannot see the adapter's name in a browser; WebGPU's adapter info says vendor and architecture.
async function adapterName() {
  const info = (await navigator.gpu.requestAdapter())?.info ?? {};
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || engine.adapter();
}

function reportGpuErrors() {
  for (const e of engine.take_errors()) log('WebGPU: ' + e, true);
}

function drawChart() {
  const c = $('chart'), g = c.getContext('2d');
  const W = c.width, H = c.height, L = 56, R = 130, T = 18, B = 36;
  g.clearRect(0, 0, W, H);
  const maxEpoch = Math.max(2, ...Object.values(curves).map((p) => p.length));
  // From the lowest 10% step any curve reaches (at most 40%) to 100%.
  const lowest = Math.min(0.4, ...Object.values(curves).flat().map((p) => Math.floor(p.valid_accuracy * 10) / 10));
  const x = (e) => L + (W - L - R) * (e - 1) / (maxEpoch - 1);
  const y = (a) => T + (H - T - B) * (1 - (a - lowest) / (1 - lowest));
  g.strokeStyle = '#d5dbe4'; g.fillStyle = '#5b6575'; g.font = '12px system-ui'; g.lineWidth = 1;
  for (let a = lowest; a <= 1.0001; a += 0.1) {
    g.beginPath(); g.moveTo(L, y(a)); g.lineTo(W - R, y(a)); g.stroke();
    g.fillText((a * 100).toFixed(0) + '%', 18, y(a) + 4);
  }
  for (let e = 1; e <= maxEpoch; e++) g.fillText(String(e), x(e) - 3, H - B + 16);
  g.fillText('epoch', (W - R) / 2, H - 4);
  g.save(); g.translate(12, T + 150); g.rotate(-Math.PI / 2); g.fillText('validation accuracy', 0, 0); g.restore();
  let legend = 0;
  for (const [method, points] of Object.entries(curves)) {
    g.strokeStyle = g.fillStyle = COLORS[method]; g.lineWidth = 2; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, x(p.epoch), y(p.valid_accuracy)));
    g.stroke();
    for (const p of points) { g.beginPath(); g.arc(x(p.epoch), y(p.valid_accuracy), 3, 0, 7); g.fill(); }
    g.fillText(method, W - R + 16, T + 14 + 18 * legend++);
  }
}

function setBusy(busy) {
  document.querySelectorAll('button').forEach((b) => (b.disabled = busy));
  if (!busy && !lastRun) $('predict').disabled = true;
}

async function train(method) {
  const started = performance.now();
  const run = new Run(engine, method, $('rows').value, Number($('labelled').value), Number($('epochs').value), BigInt($('seed').value));
  log(`${method}: ${run.notes()}`);
  curves[method] = [];
  let epoch;
  do {
    epoch = JSON.parse(await run.train_epoch());
    curves[method].push(epoch);
    drawChart();
    log(`${method} epoch ${epoch.epoch}/${epoch.epochs}: training loss ${epoch.train_loss.toFixed(4)}, validation accuracy ${(100 * epoch.valid_accuracy).toFixed(1)}% (${epoch.seconds.toFixed(1)} s)`);
    reportGpuErrors();
  } while (!epoch.done);
  const test = JSON.parse(await run.test());
  const seconds = (performance.now() - started) / 1000;
  const tr = $('results').insertRow();
  for (const v of [method, `${(100 * test.accuracy).toFixed(1)}% of ${test.rows}`, epoch.epochs, seconds.toFixed(1), run.notes()]) tr.insertCell().textContent = v;
  lastRun = run;
  return { method, test_accuracy: test.accuracy, seconds, curve: curves[method] };
}

async function guarded(work) {
  setBusy(true);
  try { return await work(); } catch (e) { log(String(e.message || e), true); } finally { setBusy(false); }
}

async function main() {
  await init();
  engine = await Engine.open();
  $('adapter').textContent = 'WebGPU adapter: ' + (await adapterName()) + '.';
  const src = JSON.parse(engine.source_info());
  $('source').textContent = `E = ${src.embed}, H = ${src.hidden}, ${src.pooling} pooling, ${src.vocab} words`;
  for (const name of Engine.datasets()) $('dataset').add(new Option(`${name} (embedded)`, name));
  $('dataset').add(new Option('paste your own', ''));
  $('dataset').value = 'uci_yelp';
  const load = () => { if ($('dataset').value) $('rows').value = Engine.dataset($('dataset').value); };
  $('dataset').onchange = load;
  load();
  document.querySelectorAll('button[data-method]').forEach((b) => (b.onclick = () => guarded(() => train(b.dataset.method))));
  $('compare').onclick = () => guarded(async () => { for (const m of ['scratch', 'init', 'freeze']) await train(m); });
  $('predict').onclick = () => guarded(async () => {
    const p = JSON.parse(await lastRun.predict($('sentence').value));
    // The embedded sentiment sets label 0 = negative, 1 = positive.
    const meaning = $('dataset').value ? { 0: ' (negative)', 1: ' (positive)' }[p.label] ?? '' : '';
    $('prediction').textContent = `label ${p.label}${meaning}: ${(100 * p.probability).toFixed(1)}%`;
  });
  drawChart();
  setBusy(false);
}

// The browser test: the source model's logits for fixed token ids, and a short transfer run.
async function browserTest() {
  const result = {};
  try {
    await init();
    engine = await Engine.open();
    result.adapter = await adapterName();
    const ids = JSON.parse(await (await fetch('test-ids.json')).text());
    result.logits = JSON.parse(await engine.source_logits(JSON.stringify(ids)));
    const run = new Run(engine, 'init', Engine.dataset('uci_yelp'), 40, 2, 1n);
    const started = performance.now();
    result.epochs = [JSON.parse(await run.train_epoch()), JSON.parse(await run.train_epoch())];
    result.train_seconds = (performance.now() - started) / 1000;
    result.test = JSON.parse(await run.test());
    result.prediction = JSON.parse(await run.predict('the food was great'));
    result.gpu_errors = engine.take_errors();
  } catch (e) {
    result.error = String(e.message || e);
  }
  await fetch('/result', { method: 'POST', body: JSON.stringify(result) });
}

if (new URLSearchParams(location.search).has('test')) browserTest();
else main().catch((e) => { $('adapter').textContent = ''; log(String(e.message || e), true); });
