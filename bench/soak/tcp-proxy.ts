import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a free loopback port in front of a server (MinIO, Temporal's frontend), whose
 * connections the soak can cut or stall at any moment: what a flaky network or a stalled load balancer
 * does to a long run. Bytes pass through untouched otherwise.
 */
export class TcpProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private stalledUntil = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client: Socket) => proxy.accept(client, target));
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    // While stalled, nothing is read on either side: the peers' writes back up as on a frozen link.
    if (Date.now() < this.stalledUntil) this.pause(pair, this.stalledUntil - Date.now());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private pause(pair: { client: Socket; upstream: Socket }, ms: number): void {
    pair.client.pause();
    pair.upstream.pause();
    setTimeout(() => {
      pair.client.resume();
      pair.upstream.resume();
    }, ms).unref();
  }

  /** Resets every open connection (new ones are accepted at once): what a dropped link does mid-transfer. */
  cut(): number {
    const count = this.pairs.size;
    for (const { client, upstream } of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    return count;
  }

  /** Stops moving bytes on every connection, open or opened meanwhile, for `ms`. */
  stall(ms: number): void {
    this.stalledUntil = Date.now() + ms;
    for (const pair of this.pairs) this.pause(pair, ms);
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
