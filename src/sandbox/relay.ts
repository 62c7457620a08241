// The platform API relay, inside every sandbox: 127.0.0.1:<port> (and [::1]:<port>) → the platform API's
// unix socket bound into the sandbox. The driver places this module in each sandbox and names it in
// KINDLING_RELAY_MODULE; a runtime whose process is Node imports it and calls startRelay before it says
// "ready" (no extra process, so nothing more counts against the function's memory). A runtime that is not
// Node can run it as a program beside itself: `node $KINDLING_RELAY_MODULE` prints the port it listens on.
// Self-contained: node: builtins only.
import net from 'node:net';

function relayServer(apiSocket: string): net.Server {
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect(apiSocket);
    client.pipe(upstream);
    upstream.pipe(client);
    // Destroy rather than end: either peer may have vanished and never read again.
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  server.unref();
  return server;
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

/**
 * The relay answers on the API's own port, so URLs the platform hands clients (queue URLs, presigned
 * URLs) work unchanged inside; on ::1 too when this loopback has it, so `localhost` resolves either way.
 * Port 0 (no network namespace of its own): any free port, IPv4 only. Resolves the port it listens on.
 */
export async function startRelay(
  port = Number(process.env.KINDLING_RELAY_PORT ?? '9001'),
  apiSocket = process.env.KINDLING_API_SOCKET ?? '/run/kindling/api.sock',
): Promise<number> {
  const got = await listen(relayServer(apiSocket), port, '127.0.0.1');
  if (port !== 0) {
    const v6 = relayServer(apiSocket);
    await listen(v6, got, '::1').catch(() => v6.close());
  }
  return got;
}

// Run as a program (a runtime that is not Node): keep serving, say the port on stdout. Told by the main
// script's name, not import.meta: the sandbox's copy is CommonJS (tsconfig.sandbox.json).
if (/(^|\/)relay\.(c|m)?js$/.test(process.argv[1] ?? '')) {
  startRelay().then(
    (p) => {
      process.stdout.write(`${p}\n`);
      setInterval(() => {}, 1 << 30);
    },
    (e: unknown) => {
      process.stderr.write(`relay: ${String(e)}\n`);
      process.exit(1);
    },
  );
}
