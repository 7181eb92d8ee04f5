// The ingest worker thread's entry: the TypeScript sources run through tsx, which a worker inherits when the process
// was started with `--import tsx` and registers here otherwise (bin/modelfab.js registers it in the main thread only).
try {
  await import('./parse-worker-main.ts');
} catch (e) {
  if (e?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw e;
  const { register } = await import('tsx/esm/api');
  register();
  await import('./parse-worker-main.ts?tsx');
}
