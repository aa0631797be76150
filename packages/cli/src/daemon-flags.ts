/**
 * Node flags of the daemon process, whether `pipcache start` launches it or a
 * service manager does. A young generation of 2 MB semi-spaces (V8's default
 * grows to 16 MB): a daemon streaming big files to many clients makes
 * short-lived garbage at a high rate, and collecting it young keeps the
 * process about 30 MB smaller at its peak, at no CPU cost measurable in
 * `bench/` (compare --only rss,big-wheel). `pipcache start --foreground`
 * typed by hand runs in the CLI's own process, without them.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
