// A small SVG line chart for the examples' training curves (SVG is text; no image encoder needed).

export interface Series {
  label: string;
  points: [number, number][];
  color: string;
}

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
const tick = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

/** One panel: axes with min/max ticks, a polyline per series, a legend. */
function panel(title: string, xLabel: string, series: Series[], x0: number, y0: number, w: number, h: number): string {
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) return '';
  const [xmin, xmax] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [ymin, ymax] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (ymax === ymin) [ymin, ymax] = [ymin - 1, ymax + 1];
  const sx = (x: number) => x0 + 50 + ((x - xmin) / Math.max(1e-12, xmax - xmin)) * (w - 70);
  const sy = (y: number) => y0 + h - 30 - ((y - ymin) / (ymax - ymin)) * (h - 75);
  const lines = series.map(
    (s) =>
      `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.points
        .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join(' ')}"/>` +
      (s.points.length < 30
        ? s.points
            .map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${s.color}"/>`)
            .join('')
        : ''),
  );
  // The legend is one line under the title, clear of the curves.
  const legend = series.map(
    (s, i) => `<text x="${x0 + 60 + i * 110}" y="${y0 + 36}" fill="${s.color}">&#9632; ${esc(s.label)}</text>`,
  );
  return [
    `<text x="${x0 + w / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${x0 + 50}" y1="${y0 + h - 30}" x2="${x0 + w - 20}" y2="${y0 + h - 30}" stroke="#444"/>`,
    `<line x1="${x0 + 50}" y1="${y0 + 45}" x2="${x0 + 50}" y2="${y0 + h - 30}" stroke="#444"/>`,
    `<text x="${x0 + 45}" y="${sy(ymax) + 4}" text-anchor="end">${tick(ymax)}</text>`,
    `<text x="${x0 + 45}" y="${sy(ymin) + 4}" text-anchor="end">${tick(ymin)}</text>`,
    `<text x="${sx(xmin)}" y="${y0 + h - 14}" text-anchor="middle">${tick(xmin)}</text>`,
    `<text x="${sx(xmax)}" y="${y0 + h - 14}" text-anchor="middle">${tick(xmax)}</text>`,
    `<text x="${x0 + w / 2}" y="${y0 + h - 2}" text-anchor="middle">${esc(xLabel)}</text>`,
    ...lines,
    ...legend,
  ].join('\n');
}

/** Side-by-side panels as one SVG document. */
export function chart(
  panels: { title: string; xLabel: string; series: Series[] }[],
  width = 420,
  height = 300,
): string {
  const body = panels.map((p, i) => panel(p.title, p.xLabel, p.series, i * width, 0, width, height)).join('\n');
  const size = `width="${width * panels.length}" height="${height}"`;
  return `<svg xmlns="http://www.w3.org/2000/svg" ${size} font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
${body}
</svg>
`;
}
