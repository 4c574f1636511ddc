// How the bench talks: a progress line on stderr while a scenario runs (rewritten in place on a
// terminal, one line a second otherwise), then a table and one JSON line on stdout.

import type { Percentiles } from "./_histogram.ts";

/** A target from the issue, and whether this run met it. */
export interface Target {
  name: string;
  value: number;
  limit: number;
  unit: string;
  met: boolean;
}

/** What a scenario hands back: rows for its table, and its figures for the JSON line. */
export interface ScenarioResult {
  scenario: string;
  table: { columns: string[]; rows: (string | number)[][] };
  /** Everything, as printed on the JSON line (with `scenario` added). */
  figures: Record<string, unknown>;
  targets: Target[];
  /** Lines to print after the table: warnings, profile summaries. */
  notes: string[];
}

/** The JSON line: every figure of a scenario, its targets, and `ok`. */
export interface ScenarioJson {
  scenario: string;
  targets: Target[];
  [figure: string]: unknown;
}

const encoder = new TextEncoder();
const terminal = Deno.stderr.isTerminal();

/**
 * Prints `status()` on stderr once a second until the returned function is called; on a
 * terminal the line is rewritten in place.
 */
export function showProgress(status: () => string): () => void {
  let shown = false;
  const show = () => {
    const text = status();
    Deno.stderr.writeSync(encoder.encode(terminal ? `\r\x1b[K${text}` : `${text}\n`));
    shown = true;
  };
  const timer = setInterval(show, 1000);
  return () => {
    clearInterval(timer);
    if (shown && terminal) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
  };
}

/** Says something on stderr, between progress lines. */
export function note(text: string): void {
  Deno.stderr.writeSync(encoder.encode(`${terminal ? "\r\x1b[K" : ""}${text}\n`));
}

/** Prints a result's table, notes and JSON line on stdout. */
export function printResult(result: ScenarioResult): void {
  const { columns, rows } = result.table;
  const cells = [columns, ...rows.map((row) => row.map(String))];
  const widths = columns.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? "").length)));
  const line = (row: string[]) =>
    row.map((cell, c) => c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))
      .join("  ").trimEnd();
  console.log(`\n== ${result.scenario} ==`);
  console.log(line(columns));
  console.log(widths.map((width) => "-".repeat(width)).join("  "));
  for (const row of cells.slice(1)) console.log(line(row));
  for (const target of result.targets) {
    console.log(
      `target: ${target.name}: ${target.value} ${target.unit} (limit ${target.limit}) ${
        target.met ? "MET" : "MISSED"
      }`,
    );
  }
  for (const text of result.notes) console.log(text);
  const json: ScenarioJson = {
    scenario: result.scenario,
    ...result.figures,
    targets: result.targets,
  };
  console.log(JSON.stringify(json));
}

/** A number with thousands separators. */
export function count(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** A percentage with one decimal. */
export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** `p50 / p99 / max` in milliseconds. */
export function latencyCell(latency: Percentiles): string {
  return `${latency.p50} / ${latency.p99} / ${latency.max}`;
}
