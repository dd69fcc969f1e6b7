// Bench-only: the launchers run with --expose-gc and collect garbage on SIGUSR2, so the storm can read
// each server's retained memory per connection instead of whatever garbage the accept burst left behind.
const collect = (globalThis as { gc?: () => void }).gc;
if (collect) process.on('SIGUSR2', () => collect());
export {};
