// Starts `glmasr serve` on the CPU with the tiny checkpoint for the Node tests (ctest, label
// e2e): GLMASR_BINARY and GLMASR_MODEL_DIR name the binary and the checkpoint.
import { spawn } from 'node:child_process';

export const binary = process.env.GLMASR_BINARY;
export const modelDir = process.env.GLMASR_MODEL_DIR;
export const maxNewTokens = '8';

// Starts the server on a free port; `port` resolves once the log names it.
export function startServer(extraArgs = []) {
  const child = spawn(binary, ['serve', '--device', 'cpu', '--model', modelDir, '--port', '0',
                               '--max-new-tokens', maxNewTokens, '--quiet', ...extraArgs],
                      { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`glmasr serve did not listen within 60 s:\n${log}`)), 60000);
    timer.unref();  // never keeps the test process alive
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`glmasr serve exited (${code}) before listening:\n${log}`)));
  });
  return { child, port, log: () => log };
}

// SIGTERM, and the exit code (0 when it stopped cleanly).
export function stopServer(server) {
  const exited = new Promise((resolve) => server.child.on('exit', (code) => resolve(code)));
  server.child.kill('SIGTERM');
  return exited;
}
