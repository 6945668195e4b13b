/** Human output: aligned tables, usage bars, ages. Pure string building; colour only when asked. */

/** Columns padded to their widest cell, two spaces apart, as kubectl prints. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  return [headers, ...rows]
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `[####------]  40%`: the share of `capacity` used, rounded down so a nearly full pool is not shown full. */
export function usageBar(used: bigint, capacity: bigint, width = 10): string {
  if (capacity <= 0n) return `[${' '.repeat(width)}]    -`;
  const filled = Number((used * BigInt(width)) / capacity);
  const percent = Number((used * 100n) / capacity);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${`${percent}%`.padStart(4)}`;
}

/** 45s, 12m, 3h20m, 5d4h: an age as kubectl shows it. */
export function humanAge(seconds: number): string {
  if (seconds < 0) return '0s';
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
}

export type Colour = 'red' | 'green' | 'yellow';
const codes: Record<Colour, string> = { red: '31', green: '32', yellow: '33' };

export function paint(text: string, colour: Colour, enabled: boolean): string {
  return enabled ? `\u001b[${codes[colour]}m${text}\u001b[0m` : text;
}
