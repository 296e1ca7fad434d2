// The Models page: model list, load/switch, benchmarks (table + chart), compare, recommend.
// Model ids, prompts and answers are inserted with textContent only.
import { api } from './common.js';

const initial = JSON.parse(document.getElementById('models-initial').textContent);
let models = initial.status.models || [];
let benchmarks = initial.benchmarks || [];

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#3056d3', '#067647', '#b54708', '#b42318', '#7a5af8', '#0e9384'];

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

// One line about the last action: kind is 'info' (under way), 'success', 'warning' (done,
// but not as asked) or 'error'; each has its own look (app.css, "Notices").
function say(message, kind = 'info') {
  const box = $('models-message');
  box.textContent = message;
  box.className = `notice ${kind}`;
  box.dataset.kind = kind;
  box.hidden = !message;
}

async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    say(error.message, 'error');
  } finally {
    button.disabled = false;
  }
}

const fmt = (value, digits = 0) => (value === null || value === undefined ? '–'
  : Number(value).toFixed(digits));

// -- models -------------------------------------------------------------------------------

function renderStatus(status) {
  const line = $('lmstudio-status');
  line.textContent = '';
  if (!status.reachable) {
    line.append(el('span', `${status.server} is not reachable: start it (in LM Studio: `
      + 'Developer tab, Start Server), or check --lmstudio-url.', { class: 'error' }));
    return;
  }
  line.append(`${status.server} is reachable; active model: `,
    el('strong', status.activeModel || 'none'), '.');
}

function renderModels() {
  const body = $('models-table').tBodies[0];
  body.textContent = '';
  if (!models.length) {
    const row = body.insertRow();
    row.append(el('td', 'No models to show.', { colspan: 5, class: 'muted' }));
  }
  for (const model of models) {
    const row = body.insertRow();
    row.append(el('td', model.id), el('td', model.type || '?'));
    const state = el('td');
    state.append(el('span', model.state || 'unknown', { class: `badge ${model.state || ''}` }));
    row.append(state, el('td', model.maxContextLength || '?'));
    const actions = el('td');
    if (model.type !== 'embeddings') {
      const load = el('button', model.loaded ? 'Loaded' : 'Load', { type: 'button',
        class: 'secondary' });
      load.disabled = model.loaded === true;
      load.addEventListener('click', () => busy(load, async () => {
        say(`Loading ${model.id}…`);
        const result = await api('/api/models/load', { method: 'POST', body: { model: model.id } });
        say(`${result.model} is loaded (${fmt(result.loadTimeS, 1)} s, ${result.method}).`,
          'success');
        await refreshModels(true);
      }));
      actions.append(load);
    }
    row.append(actions);
  }
  const llms = models.filter((m) => m.type !== 'embeddings');
  for (const select of document.querySelectorAll('.model-select')) {
    const chosen = select.value;
    select.textContent = '';
    for (const model of llms) select.append(el('option', model.id, { value: model.id }));
    if (chosen) select.value = chosen;
  }
  const boxes = $('compare-models');
  for (const label of boxes.querySelectorAll('label')) label.remove();
  for (const model of llms) {
    const label = el('label');
    const box = el('input', null, { type: 'checkbox', name: 'models', value: model.id });
    label.append(box, ` ${model.id}`);
    boxes.append(label);
  }
  renderCompareState(llms);
}

// Comparing needs two language models: with fewer, the form says so and cannot be used.
function renderCompareState(llms) {
  const form = $('compare-form');
  const note = $('compare-note');
  const enough = llms.length >= 2;
  for (const control of form.querySelectorAll('textarea, input, button')) {
    control.disabled = !enough;
  }
  if (enough) {
    note.hidden = true;
    note.textContent = '';
    return;
  }
  note.textContent = llms.length === 1
    ? `Comparing needs two or more models; the server offers one (${llms[0].id}).`
    : 'Comparing needs two or more models; the server offers none.';
  note.hidden = false;
}

async function refreshModels(refresh = false) {
  const status = await api(`/api/models/status${refresh ? '?refresh=1' : ''}`);
  if (refresh && status.reachable) {
    const listed = await api('/api/models?refresh=1');
    status.models = listed.models;
    status.activeModel = listed.activeModel;
  }
  models = status.models || [];
  renderStatus(status);
  renderModels();
}

// -- benchmarks ---------------------------------------------------------------------------

function renderBenchmarks() {
  const body = $('benchmark-table').tBodies[0];
  body.textContent = '';
  for (const b of benchmarks) {
    const row = body.insertRow();
    row.append(el('td', b.createdAt ? new Date(b.createdAt).toLocaleString() : ''),
      el('td', b.model), el('td', fmt(b.ttftMs)), el('td', fmt(b.tokensPerSecond, 1)),
      el('td', fmt(b.totalMs)), el('td', b.tokensGenerated));
  }
  drawChart();
}

function drawChart() {
  // One line per model: tokens/s of each run, oldest on the left.
  const svg = $('benchmark-chart');
  svg.textContent = '';
  const runs = [...benchmarks].reverse().filter((b) => b.tokensPerSecond);
  const legend = $('benchmark-legend');
  if (!runs.length) {
    legend.textContent = 'No benchmarks yet: run one above.';
    return;
  }
  const width = 600; const height = 180; const pad = 30;
  const top = Math.max(...runs.map((b) => b.tokensPerSecond)) * 1.1;
  const x = (i) => pad + (runs.length === 1 ? (width - 2 * pad) / 2
    : (i * (width - 2 * pad)) / (runs.length - 1));
  const y = (v) => height - pad - (v / top) * (height - 2 * pad);
  const axis = document.createElementNS(SVG, 'path');
  axis.setAttribute('d', `M${pad} ${pad / 2} V${height - pad} H${width - pad / 2}`);
  axis.setAttribute('stroke', '#98a2b3');
  axis.setAttribute('fill', 'none');
  svg.append(axis);
  const label = document.createElementNS(SVG, 'text');
  label.setAttribute('x', 2);
  label.setAttribute('y', pad / 2 + 4);
  label.setAttribute('font-size', 11);
  label.textContent = `${fmt(top, 0)} tok/s`;
  svg.append(label);
  const names = [...new Set(runs.map((b) => b.model))];
  legend.textContent = 'Tokens per second over time: ';
  names.forEach((name, n) => {
    const colour = COLOURS[n % COLOURS.length];
    const points = runs.map((b, i) => [b, i]).filter(([b]) => b.model === name)
      .map(([b, i]) => `${x(i).toFixed(1)},${y(b.tokensPerSecond).toFixed(1)}`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', colour);
    line.setAttribute('stroke-width', 2);
    svg.append(line);
    for (const point of points) {
      const [cx, cy] = point.split(',');
      const dot = document.createElementNS(SVG, 'circle');
      dot.setAttribute('cx', cx);
      dot.setAttribute('cy', cy);
      dot.setAttribute('r', 3);
      dot.setAttribute('fill', colour);
      svg.append(dot);
    }
    const key = el('span', ` ■ ${name} `);
    key.style.color = colour;
    legend.append(key);
  });
}

// -- forms --------------------------------------------------------------------------------

$('refresh-models').addEventListener('click', (event) => busy(event.target,
  () => refreshModels(true)));

$('switch-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  busy(form.querySelector('button'), async () => {
    const fallbacks = form.fallbacks.value.split(',').map((s) => s.trim()).filter(Boolean);
    const result = await api('/api/models/switch', { method: 'POST',
      body: { model: form.model.value, fallbacks } });
    const note = result.fellBack
      ? `${result.requested} could not be loaded; ${result.active} is active instead.`
      : `${result.active} is now the active model.`;
    const line = $('switch-result');
    line.textContent = note;
    line.className = `notice ${result.fellBack ? 'warning' : 'success'}`;
    await refreshModels(true);
  });
});

$('benchmark-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  busy(form.querySelector('button'), async () => {
    say(`Benchmarking ${form.model.value}…`);
    const body = { model: form.model.value || null, prompt: form.prompt.value || null };
    const result = await api('/api/models/benchmark', { method: 'POST', body });
    say(`${result.model}: ${fmt(result.tokensPerSecond, 1)} tokens/s, first token after `
      + `${fmt(result.ttftMs)} ms.`, 'success');
    benchmarks = (await api('/api/models/benchmarks?limit=200')).benchmarks;
    renderBenchmarks();
  });
});

function renderComparison(results) {
  const box = $('compare-results');
  box.textContent = '';
  for (const r of results) {
    const card = el('article', null, { class: 'card' });
    card.append(el('h3', r.model));
    if (r.error) {
      card.append(el('p', r.error, { class: 'notice error' }));
    } else {
      const t = r.timings || {};
      card.append(el('p', `first token ${fmt(t.ttftMs)} ms · ${fmt(t.tokensPerSecond, 1)} tok/s`
        + ` · total ${fmt(t.totalMs)} ms · ${r.finishReason || ''}`, { class: 'muted' }));
      for (const p of r.problems) card.append(el('p', p.message, { class: 'notice warning' }));
      card.append(el('pre', r.text, { style: 'white-space:pre-wrap' }));
    }
    box.append(card);
  }
}

$('compare-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  const chosen = [...form.querySelectorAll('input[name=models]:checked')].map((b) => b.value);
  if (chosen.length < 2) {
    say('Choose two or more models to compare.', 'warning');
    return;
  }
  busy(form.querySelector('button'), async () => {
    say('Asking the models…');
    const data = await api('/api/models/compare', { method: 'POST',
      body: { prompt: form.prompt.value, models: chosen } });
    say('');
    renderComparison(data.results);
  });
});

$('recommend-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target;
  busy(form.querySelector('button'), async () => {
    const task = encodeURIComponent(form.taskType.value);
    const data = await api(`/api/models/recommend?taskType=${task}`);
    $('recommend-result').textContent = data.reason;
  });
});

for (const task of initial.taskTypes) $('task-type').append(el('option', task, { value: task }));
renderStatus(initial.status);
renderModels();
renderBenchmarks();
