/** One server's figures in a scenario chart; undefined values are drawn as "n/a". */
export interface ChartRow {
  server: string;
  eventsPerSecond: number | undefined;
  cpuSecondsPerMillion: number | undefined;
  freshnessP99Ms: number | undefined;
}

interface Panel {
  title: string;
  unit: string;
  value: (row: ChartRow) => number | undefined;
}

const PANELS: Panel[] = [
  { title: 'Delivered events/s', unit: '', value: (row) => row.eventsPerSecond },
  { title: 'Server CPU s per million delivered', unit: ' s', value: (row) => row.cpuSecondsPerMillion },
  { title: 'p99 freshness', unit: ' ms', value: (row) => row.freshnessP99Ms },
];

const PANEL_WIDTH = 320;
const PANEL_HEIGHT = 300;
const BAR_AREA_TOP = 50;
const BAR_AREA_HEIGHT = 180;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/**
 * Renders a bar chart with one panel per figure and one bar per server, as a
 * standalone SVG document.
 */
export function renderScenarioChart(title: string, subtitle: string, rows: readonly ChartRow[]): string {
  // The extra width keeps the last panel's slanted server names inside the image.
  const width = PANEL_WIDTH * PANELS.length + 60;
  const height = PANEL_HEIGHT + 60;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="12" y="40" fill="#555555">${escapeXml(subtitle)}</text>`,
  ];

  for (const [panelIndex, panel] of PANELS.entries()) {
    parts.push(renderPanel(panel, rows, panelIndex * PANEL_WIDTH, 40));
  }

  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function renderPanel(panel: Panel, rows: readonly ChartRow[], left: number, top: number): string {
  const values = rows.map((row) => panel.value(row));
  const max = Math.max(0, ...values.map((value) => value ?? 0));
  const slot = (PANEL_WIDTH - 40) / Math.max(1, rows.length);
  const barWidth = Math.min(48, slot * 0.6);
  const baseline = top + BAR_AREA_TOP + BAR_AREA_HEIGHT;

  const parts: string[] = [
    `<g>`,
    `<text x="${left + 20}" y="${top + 30}" font-weight="bold">${escapeXml(panel.title)}</text>`,
    `<line x1="${left + 20}" y1="${baseline}" x2="${left + PANEL_WIDTH - 20}" y2="${baseline}" stroke="#333333"/>`,
  ];

  for (const [index, row] of rows.entries()) {
    const value = values[index];
    const centre = left + 20 + slot * index + slot / 2;
    const barHeight = value === undefined || max === 0 ? 0 : (value / max) * BAR_AREA_HEIGHT;
    const color = COLORS[index % COLORS.length] ?? '#333333';

    parts.push(
      `<rect x="${(centre - barWidth / 2).toFixed(1)}" y="${(baseline - barHeight).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${barHeight.toFixed(1)}" fill="${color}"/>`,
      `<text x="${centre.toFixed(1)}" y="${(baseline - barHeight - 4).toFixed(1)}" text-anchor="middle">${escapeXml(formatValue(value, panel.unit))}</text>`,
      `<text x="${(centre - barWidth / 2).toFixed(1)}" y="${baseline + 14}" text-anchor="start" transform="rotate(35 ${(centre - barWidth / 2).toFixed(1)} ${baseline + 14})">${escapeXml(row.server)}</text>`,
    );
  }

  parts.push('</g>');
  return parts.join('\n');
}

function formatValue(value: number | undefined, unit: string): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  let digits = 2;
  if (value >= 100) {
    digits = 0;
  } else if (value >= 10) {
    digits = 1;
  }
  return `${value.toFixed(digits)}${unit}`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
