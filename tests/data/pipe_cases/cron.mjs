// @cron: reference semantics (HotMesh's CronHandler.nextDelay, with cron-parser v4 from
// tests/data/node_modules) and cases. "Now" and HMSH_FIDELITY_SECONDS come from `env` so the vectors
// are deterministic: env.nowMs is 2023-04-23T12:00:00.250Z, a Sunday.
import cronParser from 'cron-parser';

const { parseExpression } = cronParser;

export const env = { nowMs: Date.UTC(2023, 3, 23, 12, 0, 0, 250), fidelitySeconds: 5 };

const isValidCron = (expression) => {
  try {
    parseExpression(expression);
    return true;
  } catch {
    return false;
  }
};

export const reference = {
  nextDelay: (cronExpression) => {
    if (cronExpression == null || typeof cronExpression !== 'string') return -1;
    if (!isValidCron(cronExpression)) throw new Error(`Invalid cron expression: ${cronExpression}`);
    const interval = parseExpression(cronExpression, { utc: true, currentDate: new Date(env.nowMs) });
    const delay = (interval.next().toDate().getTime() - env.nowMs) / 1000;
    if (delay <= 0) return env.fidelitySeconds;
    return Math.max(Math.round(delay), env.fidelitySeconds);
  },
};

export const cases = [
  ['nextDelay', ['0 0 * * *']],
  ['nextDelay', ['* * * * *']],
  ['nextDelay', ['*/5 * * * *']],
  ['nextDelay', ['0 12 * * *']],
  ['nextDelay', ['1 12 * * *']],
  ['nextDelay', ['0 13 * * *']],
  ['nextDelay', ['30 14 * * 1-5']],
  ['nextDelay', ['0 0 * * MON']],
  ['nextDelay', ['0 0 * * 0']],
  ['nextDelay', ['0 0 * * 7']],
  ['nextDelay', ['0 0 15 * 1']],
  ['nextDelay', ['0 0 1 * *']],
  ['nextDelay', ['0 0 1,15 * *']],
  ['nextDelay', ['0 0 29 2 *']],
  ['nextDelay', ['0 0 1 1 *']],
  ['nextDelay', ['59 23 31 12 *']],
  ['nextDelay', ['0 0 L * *']],
  ['nextDelay', ['0 9-17/2 * * 1-5']],
  ['nextDelay', ['0 0 * * 5#3']],
  ['nextDelay', ['0 0 ? * *']],
  ['nextDelay', ['0 0 1 jan *']],
  ['nextDelay', ['*/15 * * * * *']],
  ['nextDelay', ['3 * * * * *']],
  ['nextDelay', ['0 1 12 * * *']],
  ['nextDelay', ['@daily']],
  ['nextDelay', ['@hourly']],
  ['nextDelay', ['@weekly']],
  ['nextDelay', ['@monthly']],
  ['nextDelay', ['@yearly']],
  ['nextDelay', ['  0  0  *  *  *  ']],
  ['nextDelay', ['* * *']],
  ['nextDelay', ['']],
  ['nextDelay', [null]],
  ['nextDelay', [undefined]],
  ['nextDelay', [60]],
  ['nextDelay', [['* * * * *']]],
  ['nextDelay', ['1 day']],
  ['nextDelay', ['60 * * * *']],
  ['nextDelay', ['0 24 * * *']],
  ['nextDelay', ['0 0 32 * *']],
  ['nextDelay', ['0 0 30 2 *']],
  ['nextDelay', ['0 0 * 13 *']],
  ['nextDelay', ['* * * * * * *']],
  ['nextDelay', ['a b c d e']],
  ['nextDelay', ['*/0 * * * *']],
  ['nextDelay', ['0 0 1W * *']],
];
