// A small time-series line chart drawn on <canvas>: no library, fixed time window.

export class LineChart {
  // options: { colors: [...], max: 100 | null (auto), format: (v) => string, windowMs }
  constructor(canvas, { colors, max = null, format = String, windowMs = 60 * 60 * 1000 }) {
    this.canvas = canvas;
    this.colors = colors;
    this.max = max;
    this.format = format;
    this.windowMs = windowMs;
    this.points = []; // [timeMs, [values...]]
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // One point; a point not newer than the last one (a sample already drawn) is ignored.
  add(timeMs, values, draw = true) {
    const last = this.points[this.points.length - 1];
    if (last && timeMs <= last[0]) return;
    this.points.push([timeMs, values]);
    const oldest = timeMs - this.windowMs;
    while (this.points.length > 2 && this.points[0][0] < oldest) this.points.shift();
    this.canvas.dataset.points = this.points.length;
    if (draw) this.draw();
  }

  // Replace every point (the server's history, on each (re)subscription).
  reset(points) {
    this.points = [];
    for (const [timeMs, values] of points) this.add(timeMs, values, false);
    this.canvas.dataset.points = this.points.length;
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const pad = { left: 4, right: 4, top: 16, bottom: 14 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const values = this.points.flatMap(([, v]) => v.filter((x) => x != null));
    const top = this.max ?? Math.max(1, ...values) * 1.1;

    ctx.strokeStyle = '#e5e7eb';
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.top + (plotH * i) / 4;
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(width - pad.right, y);
      ctx.stroke();
    }
    ctx.fillStyle = '#5d6875';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.fillText(this.format(top), pad.left, 1);
    ctx.textBaseline = 'bottom';
    const minutes = Math.round(this.windowMs / 60000);
    ctx.fillText(`${minutes} min ago`, pad.left, height);
    ctx.textAlign = 'right';
    ctx.fillText('now', width - pad.right, height);
    ctx.textAlign = 'left';

    if (!this.points.length) return;
    const now = this.points[this.points.length - 1][0];
    const x = (t) => pad.left + plotW * (1 - (now - t) / this.windowMs);
    const y = (v) => pad.top + plotH * (1 - Math.min(v, top) / top);
    this.colors.forEach((color, series) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      let drawing = false;
      for (const [t, v] of this.points) {
        const value = v[series];
        if (value == null) { drawing = false; continue; }
        if (drawing) ctx.lineTo(x(t), y(value));
        else ctx.moveTo(x(t), y(value));
        drawing = true;
      }
      ctx.stroke();
    });
  }
}
