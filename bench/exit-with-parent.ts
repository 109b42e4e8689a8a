/**
 * Loaded into a benchmarked program with `node --import`: when the benchmark that started
 * it is gone (its IPC channel closed, even after a SIGKILL), the program gets SIGTERM and
 * shuts down as it would under an orchestrator, so no server is left holding a port. Does
 * nothing when the process has no IPC channel.
 */
if (process.send) {
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // The channel alone must not keep the program alive once it has stopped serving.
  process.channel?.unref();
}

export {};
