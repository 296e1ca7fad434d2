// The Dashboard: subscribes to monitoring over /ws, draws the last hour the server kept
// (sent with `monitoring:subscribed`) and adds each new sample. Its task card shares the
// page's one socket.

import { Socket, describeStatus } from './socket.js';
import { LineChart } from './chart.js';
import { startTaskCard } from './dashboard_tasks.js';

const statusLine = document.getElementById('socket-status');

export function bytes(value) {
  if (value == null) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = value;
  let unit = 0;
  while (Math.abs(n) >= 1024 && unit < units.length - 1) { n /= 1024; unit += 1; }
  return `${n.toFixed(n >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

const percent = (v) => (v == null ? '–' : `${v.toFixed(1)} %`);
const rate = (v) => (v == null ? '–' : `${bytes(v)}/s`);

function duration(seconds) {
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return days ? `${days} d ${hours} h` : `${hours} h ${minutes} min`;
}

const charts = {
  cpu: new LineChart(document.getElementById('chart-cpu'),
    { colors: ['#3056d3'], max: 100, format: (v) => `${v.toFixed(0)} %` }),
  memory: new LineChart(document.getElementById('chart-memory'),
    { colors: ['#067647', '#b54708'], max: 100, format: (v) => `${v.toFixed(0)} %` }),
  network: new LineChart(document.getElementById('chart-network'),
    { colors: ['#3056d3', '#b42318'], format: rate }),
  disk: new LineChart(document.getElementById('chart-disk'),
    { colors: ['#067647', '#b54708'], format: rate }),
};

function setFigure(name, text) {
  const element = document.querySelector(`[data-figure="${name}"]`);
  if (element) element.textContent = text;
}

function showLMStudio(state) {
  const badge = document.getElementById('lmstudio-state');
  badge.textContent = state.reachable ? 'reachable' : 'not reachable';
  badge.className = `badge ${state.reachable ? 'ok' : 'error'}`;
  document.getElementById('lmstudio-model').textContent = state.activeModel || 'none';
  const hint = document.getElementById('lmstudio-hint');
  if (hint) hint.hidden = state.reachable;
}

function showCores(perCore) {
  const cores = document.getElementById('cores');
  cores.replaceChildren(...perCore.map((value, index) => {
    const bar = document.createElement('span');
    bar.style.height = `${Math.max(2, value)}%`;
    bar.title = `core ${index}: ${value.toFixed(0)} %`;
    return bar;
  }));
}

function showGpus(gpus) {
  const card = document.getElementById('gpu-card');
  card.hidden = !gpus.length;
  const figures = document.getElementById('gpu-figures');
  figures.replaceChildren();
  for (const gpu of gpus) {
    const term = document.createElement('dt');
    term.textContent = gpu.name;
    const value = document.createElement('dd');
    const parts = [percent(gpu.utilizationPercent)];
    if (gpu.memoryTotalBytes) {
      parts.push(`${bytes(gpu.memoryUsedBytes)} / ${bytes(gpu.memoryTotalBytes)}`);
    }
    if (gpu.temperatureC != null) parts.push(`${gpu.temperatureC} °C`);
    value.textContent = parts.join(' · ');
    figures.append(term, value);
  }
}

// What each chart draws of a history point (the server's compact form of a sample).
const SERIES = {
  cpu: (p) => [p.cpuPercent],
  memory: (p) => [p.memoryPercent, p.swapPercent],
  network: (p) => [p.recvBytesPerSec, p.sentBytesPerSec],
  disk: (p) => [p.readBytesPerSec, p.writeBytesPerSec],
};

const pointTime = (p) => Date.parse(p.timestamp) || Date.now();

function asPoint(m) {
  return {
    timestamp: m.timestamp, cpuPercent: m.cpu.percent, memoryPercent: m.memory.percent,
    swapPercent: m.swap.total ? m.swap.percent : null,
    recvBytesPerSec: m.network.recvBytesPerSec, sentBytesPerSec: m.network.sentBytesPerSec,
    readBytesPerSec: m.disk.readBytesPerSec, writeBytesPerSec: m.disk.writeBytesPerSec,
  };
}

function showHistory(data) {
  const history = data.history ?? [];
  for (const [name, chart] of Object.entries(charts)) {
    chart.reset(history.map((p) => [pointTime(p), SERIES[name](p)]));
  }
}

function showMetrics(m) {
  const point = asPoint(m);
  for (const [name, chart] of Object.entries(charts)) {
    chart.add(pointTime(point), SERIES[name](point));
  }

  setFigure('cpu', `${percent(m.cpu.percent)} of ${m.cpu.count} cores`);
  setFigure('load', m.loadAverage ? m.loadAverage.map((v) => v.toFixed(2)).join(' · ') : '–');
  setFigure('processes', String(m.processes));
  const { memory, disk } = m;
  const used = `${bytes(memory.used)} / ${bytes(memory.total)}`;
  setFigure('memory', `${used} (${percent(memory.percent)})`);
  setFigure('swap', m.swap.total ? `${bytes(m.swap.used)} / ${bytes(m.swap.total)}` : 'none');
  setFigure('disk', disk.total
    ? `${bytes(disk.used)} / ${bytes(disk.total)} (${percent(disk.percent)})` : '–');
  setFigure('clients', String(m.websocket.clients));
  setFigure('process-cpu', percent(m.process.cpuPercent));
  setFigure('process-rss', bytes(m.process.rssBytes));
  setFigure('uptime', duration(m.uptimeSeconds));
  showCores(m.cpu.perCore);
  showGpus(m.gpu || []);
  if (m.lmstudio) showLMStudio(m.lmstudio);
}

const socket = new Socket();
socket.on('monitoring:subscribed', showHistory);
socket.on('monitoring:metrics', showMetrics);
socket.onStatus((state, detail) => {
  statusLine.textContent = state === 'open' ? 'Live: updates arrive by themselves.'
    : describeStatus(state, detail);
  statusLine.dataset.state = state;
  if (state === 'open') socket.send('monitoring:subscribe');
});
startTaskCard(socket);
socket.start();
