import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createEmailChannel } from '../../src/follow-ups/email.js';

const message = {
  to: 'ada@example.test',
  toName: 'Ada Lovelace',
  subject: 'Booking confirmed:\nRoom 1',
  text: 'Hello Ada,\n\nYour booking is confirmed.',
  html: '<p>Hello Ada,</p><p>Your booking is confirmed.</p>',
  headers: { 'X-Event-Id': '4b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10' },
};

/** Just enough SMTP (RFC 5321) on 127.0.0.1 to accept one message at a time and keep what it received. */
async function startSmtpSink() {
  const messages: { from: string; to: string[]; data: string }[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffer = '';
    let inData = false;
    let current = { from: '', to: [] as string[], data: '' };
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply('220 sink.test ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          current.data = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          inData = false;
          messages.push(current);
          current = { from: '', to: [], data: '' };
          reply('250 2.0.0 queued as sink-1');
          continue;
        }
        const nl = buffer.indexOf('\r\n');
        if (nl < 0) return;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') reply('250 sink.test');
        else if (verb === 'MAIL') (current.from = line), reply('250 2.1.0 ok');
        else if (verb === 'RCPT') current.to.push(line), reply('250 2.1.5 ok');
        else if (verb === 'DATA') (inData = true), reply('354 end with <CRLF>.<CRLF>');
        else if (verb === 'QUIT') reply('221 bye'), socket.end();
        else if (verb === 'RSET' || verb === 'NOOP') reply('250 ok');
        else reply('502 not implemented');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const sinks: { close: () => Promise<void> }[] = [];
afterAll(() => Promise.all(sinks.map((s) => s.close())));

describe('email channel', () => {
  it('without SMTP_URL writes the rendered message to the log instead of sending it', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const channel = createEmailChannel(loadConfig({ EMAIL_FROM: 'Hub <hub@example.test>' }), logger);
    expect(channel.transport).toBe('log');
    const { messageId } = await channel.send(message);
    channel.close();
    expect(messageId).toMatch(/^<.+@.+>$/);
    const entry = JSON.parse(lines.find((l) => l.includes('log transport'))!) as { email: Record<string, unknown> };
    expect(entry.email).toMatchObject({
      subject: 'Booking confirmed: Room 1',
      text: message.text,
      html: message.html,
      to: [{ address: 'ada@example.test', name: 'Ada Lovelace' }],
      from: expect.objectContaining({ address: 'hub@example.test' }),
    });
  });

  it('without SMTP_URL and with info logging off, composes nothing yet answers a Message-ID of the same form', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const channel = createEmailChannel(loadConfig({ EMAIL_FROM: 'Hub <hub@bücher.example>' }), logger);
    expect(channel.transport).toBe('log');
    const ids = [(await channel.send(message)).messageId, (await channel.send(message)).messageId];
    // As nodemailer makes them: 8-4-4-4-12 hex, at the From address's domain (punycoded).
    const form = /^<[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@xn--bcher-kva\.example>$/;
    for (const id of ids) expect(id).toMatch(form);
    expect(ids[0]).not.toBe(ids[1]);
    expect(lines).toEqual([]);
    // Turned up at run time, the same channel logs the rendered message again (nodemailer's id, the same form).
    logger.level = 'info';
    const { messageId } = await channel.send(message);
    channel.close();
    expect(messageId).toMatch(form);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ messageId, email: { messageId, subject: 'Booking confirmed: Room 1', from: { address: 'hub@xn--bcher-kva.example' } } });
  });

  it('with SMTP_URL sends through SMTP (nodemailer against a real socket), text and HTML parts', async () => {
    const sink = await startSmtpSink();
    sinks.push(sink);
    const channel = createEmailChannel(
      loadConfig({ SMTP_URL: `smtp://127.0.0.1:${sink.port}?ignoreTLS=true`, EMAIL_FROM: 'Hub <hub@example.test>' }),
      pino({ level: 'silent' }),
    );
    expect(channel.transport).toBe('smtp');
    const { messageId } = await channel.send(message);
    channel.close();
    expect(messageId).toMatch(/^<.+@.+>$/);
    expect(sink.messages).toHaveLength(1);
    const [m] = sink.messages;
    expect(m!.from).toContain('hub@example.test');
    expect(m!.to).toEqual([expect.stringContaining('ada@example.test')]);
    expect(m!.data).toMatch(/^To: Ada Lovelace <ada@example\.test>$/m);
    expect(m!.data).toMatch(/^Subject: Booking confirmed: Room 1$/m);
    expect(m!.data).toMatch(/^X-Event-Id: 4b5e8f6a-4f1e-4b8a-9f57-6c0f1f7d2a10$/im);
    expect(m!.data).toContain('multipart/alternative');
    expect(m!.data).toContain('text/plain');
    expect(m!.data).toContain('text/html');
  });

  it("addresses the recipient by name, on one line and encoded when it is not ASCII; the bare address without one", async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const channel = createEmailChannel(loadConfig({ EMAIL_FROM: 'Hub <hub@example.test>' }), logger);
    await channel.send({ ...message, toName: 'Zoë\nO"Brien, guest' });
    await channel.send({ ...message, toName: '  ' });
    await channel.send({ ...message, toName: undefined });
    channel.close();
    const sent = lines.map((l) => (JSON.parse(l) as { email: { to: unknown } }).email.to);
    expect(sent).toEqual([[{ address: 'ada@example.test', name: 'Zoë O"Brien, guest' }], [{ address: 'ada@example.test', name: '' }], [{ address: 'ada@example.test', name: '' }]]);

    const sink = await startSmtpSink();
    sinks.push(sink);
    const smtp = createEmailChannel(loadConfig({ SMTP_URL: `smtp://127.0.0.1:${sink.port}?ignoreTLS=true`, EMAIL_FROM: 'Hub <hub@example.test>' }), pino({ level: 'silent' }));
    await smtp.send({ ...message, toName: 'Zoë O"Brien, guest' });
    smtp.close();
    const to = sink.messages[0]!.data.match(/^To: (.*)$/m)?.[1];
    expect(to).toMatch(/^=\?UTF-8\?.+\?= <ada@example\.test>$/);
    expect(sink.messages[0]!.to).toEqual([expect.stringContaining('<ada@example.test>')]);
  });

  it('refuses an SMTP_URL that is not smtp:// or smtps://', () => {
    expect(() => loadConfig({ SMTP_URL: 'http://mail.example.test' })).toThrow(/SMTP_URL/);
  });
});
