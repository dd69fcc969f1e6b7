// A WebSocket listener binds its port again in the same process (issue 16 item 4): the descriptor guard closes the
// uWS listen socket when descriptors run short and binds the port again once they are free, while connections it
// accepted before are still open or sit in TIME-WAIT.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectRaw } from '../kit/raw-client.js';
import { startServer } from '../kit/server.js';

describe('binding a WebSocket port again', () => {
  it('a port asked as 0 binds again in the same process while its old connections sit in TIME-WAIT', async () => {
    // uWS sets SO_REUSEADDR/SO_REUSEPORT only on a port bound by number; a paused listener relies on them.
    const first = await startServer({ congPort: undefined });
    const port = first.wsPort!;
    const clients = await Promise.all([0, 1, 2].map(() => connectRaw('ws', port)));
    await Promise.all(clients.map((c) => c.handshake()));
    await first.close(); // the server closes first: its side of each connection goes to TIME-WAIT
    const again = await startServer({ port, congPort: undefined });
    try {
      assert.equal(again.wsPort, port);
      const c = await connectRaw('ws', port);
      await c.handshake();
      await c.close();
    } finally {
      await again.close();
    }
  });
});
