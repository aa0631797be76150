// Loaded into the daemon with NODE_OPTIONS="--import <this file>" (Node 20 does
// not accept --cpu-prof in NODE_OPTIONS). Only in the daemon process (argv[1]
// is packages/daemon/dist/main.js; the short CLI runs are skipped), it starts
// the V8 sampling profiler through node:inspector and writes
// <PIPCACHE_BENCH_PROF_DIR>/daemon.<pid>.cpuprofile when the process exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.PIPCACHE_BENCH_PROF_DIR;
const isDaemon = /[\\/]daemon[\\/]dist[\\/]main\.js$/.test(process.argv[1] ?? '');

if (dir && isDaemon) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  // V8 profile timestamps and process.hrtime share CLOCK_MONOTONIC (µs); this
  // pair lets the summary keep only samples inside given wall-clock windows.
  const clock = { wallMs: Date.now(), monoUs: Number(process.hrtime.bigint() / 1000n) };
  // The in-thread session answers synchronously, so this works in 'exit'.
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err && res?.profile) writeFileSync(join(dir, `daemon.${process.pid}.cpuprofile`), JSON.stringify({ ...res.profile, benchClock: clock }));
    });
  });
}
