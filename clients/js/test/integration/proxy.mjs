// A TCP proxy between a client and a server that the test can cut (every
// connection reset at once) or freeze (bytes held, sockets left open: a
// network that went silent).
import net from 'node:net';

export class Proxy {
  constructor(targetPort) {
    this.target = targetPort;
    this.pairs = new Set();
    this.frozen = false;
    this.server = net.createServer((down) => {
      const up = net.connect(this.target, '127.0.0.1');
      const pair = { down, up };
      this.pairs.add(pair);
      const end = () => {
        down.destroy();
        up.destroy();
        this.pairs.delete(pair);
      };
      down.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
      down.pipe(up);
      up.pipe(down);
      if (this.frozen) this.hold(pair);
    });
  }

  async start() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
    return this.port;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Resets every connection through the proxy. */
  cut() {
    for (const p of this.pairs) {
      p.down.resetAndDestroy();
      p.up.destroy();
    }
  }

  /** Holds every byte of the connections open now; new ones flow. */
  freeze() {
    for (const p of this.pairs) this.hold(p);
  }

  hold(p) {
    p.down.unpipe(p.up);
    p.up.unpipe(p.down);
    p.down.pause();
    p.up.pause();
  }

  async close() {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}
