/**
 * Loaded into the benchmarked router with `node --import`: answers the benchmark's IPC
 * request `'memory'` with `process.memoryUsage()`, so the router's heap can be read from
 * outside without changing the router. Does nothing when the process has no IPC channel.
 */
if (process.send) {
  process.on('message', (message) => {
    if (message === 'memory') process.send?.({ memory: process.memoryUsage() });
  });
  // The channel alone must not keep the router alive once it has stopped serving.
  process.channel?.unref();
}

export {};
