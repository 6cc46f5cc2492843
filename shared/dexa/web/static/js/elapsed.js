// Elapsed time as a running step shows it: "7s", "2m 05s".

export function fmtElapsed(secs) {
  const s = Math.max(0, Math.floor(secs));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}
