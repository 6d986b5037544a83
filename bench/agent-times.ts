/** What a rollback bench reads of the newest update in `slipway history --json`. */
interface HistoryItem {
  id: number;
  startedAt: string;
  steps: { name: string; ms: number }[];
}

/**
 * For the newest update in `history --json` output: when the agent recorded its start (ms after
 * `commandStartedAtMs`, a Date.now() taken as the command started) and its steps' time up to the
 * end of the switch.
 */
export function agentTimesOf(historyJson: string, commandStartedAtMs: number): { receivedMs: number; toSwitchMs: number } {
  const newest = [...(JSON.parse(historyJson) as HistoryItem[])].sort((a, b) => b.id - a.id)[0]!;
  const upTo = newest.steps.findIndex((s) => s.name === 'switch');
  return { receivedMs: Date.parse(newest.startedAt) - commandStartedAtMs, toSwitchMs: newest.steps.slice(0, upTo + 1).reduce((sum, s) => sum + s.ms, 0) };
}
