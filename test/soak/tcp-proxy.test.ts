import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../bench/soak/tcp-proxy.js';

let echo: Server | undefined;
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await proxy?.stop();
  await new Promise<void>((resolve) => (echo === undefined ? resolve() : echo.close(() => resolve())));
});

async function echoServer(): Promise<number> {
  echo = createServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  return (echo.address() as { port: number }).port;
}

async function reply(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return chunk.toString();
}

describe("the soak's TCP proxy", () => {
  it('passes bytes through, resets open connections on cut, and accepts new ones at once', async () => {
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: await echoServer() });
    const first = connect(proxy.port, '127.0.0.1');
    await once(first, 'connect');
    expect(await reply(first, 'hello')).toBe('hello');
    let reset: Error | undefined;
    first.on('error', (error) => (reset = error));
    const closed = new Promise((resolve) => first.on('close', resolve));
    expect(proxy.cut()).toBe(1);
    await closed;
    expect(reset?.message).toMatch(/ECONNRESET/);
    const second = connect(proxy.port, '127.0.0.1');
    await once(second, 'connect');
    expect(await reply(second, 'again')).toBe('again');
    second.destroy();
  });

  it('holds bytes while stalled and delivers them after', async () => {
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: await echoServer() });
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    proxy.stall(400);
    const sent = Date.now();
    expect(await reply(socket, 'late')).toBe('late');
    // A guard that the stall held the bytes at all (not a timing measurement of the proxy).
    expect(Date.now() - sent).toBeGreaterThanOrEqual(300);
    socket.destroy();
  });
});
