import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { domainToASCII } from 'node:url';
import { createTransport } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import type { AppConfig } from '../config.js';
import type { Logger } from '../logger.js';

/** A rendered email, ready for a transport. */
export interface EmailMessage {
  to: string;
  /** The recipient's name, for the To header's display name (`Ada Lovelace <ada@example.test>`). */
  toName?: string;
  subject: string;
  text: string;
  html: string;
  /** Extra headers, e.g. the event id, so a recipient's system can correlate. */
  headers?: Record<string, string>;
}

/** The email channel: one `send`, whatever the transport. Tests wrap or replace it. */
export interface EmailChannel {
  readonly transport: 'smtp' | 'log';
  /** `log`: the logger of the job sending it (the log transport writes the message through it). */
  send(message: EmailMessage, log?: Logger): Promise<{ messageId: string }>;
  close(): void;
}

/** Header values must stay on one line (a name or reason may carry a newline). */
const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, ' ').trim();

/**
 * A Message-ID of the form nodemailer gives one (`<8-4-4-4-12 hex@domain of the From address>`), for sends whose
 * rendered message nobody reads (see the log transport below).
 */
function messageIdFactory(from: string): () => string {
  const address = addressparser(from, { flatten: true })[0]?.address ?? '';
  const at = address.lastIndexOf('@');
  const domain = at >= 0 ? domainToASCII(address.slice(at + 1)) || address.slice(at + 1) : hostname() || 'localhost';
  return () => `<${randomUUID()}@${domain}>`;
}

/**
 * Nodemailer, chosen by env: SMTP when `SMTP_URL` is set (production), otherwise the JSON transport, whose
 * rendered message (envelope, subject, text and HTML parts) is written to the log instead of being sent. One
 * transporter per channel, built once. The log transport composes the message only when its log line is written
 * (`info` enabled): otherwise nothing would read it, and the send costs a Message-ID of the same form.
 */
export function createEmailChannel(config: Pick<AppConfig, 'followUps'>, logger: Logger): EmailChannel {
  const { smtpUrl, from } = config.followUps.email;
  const log = logger.child({ part: 'email' });
  const compose = (m: EmailMessage) => ({
    from,
    to: m.toName?.trim() ? { name: oneLine(m.toName), address: m.to } : m.to,
    subject: oneLine(m.subject),
    text: m.text,
    html: m.html,
    ...(m.headers ? { headers: m.headers } : {}),
  });

  if (smtpUrl) {
    // Timeouts well inside the email claim's lease (EMAIL_CLAIM_LEASE_SECONDS in notification.handlers.ts), so a hung
    // server fails the attempt.
    const transporter = createTransport({ url: smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
    return {
      transport: 'smtp',
      async send(m) {
        const info = await transporter.sendMail(compose(m));
        return { messageId: info.messageId };
      },
      close: () => transporter.close(),
    };
  }

  // skipEncoding: the rendered message comes back as an object, for the log line as it is (no JSON round trip).
  const transporter = createTransport({ jsonTransport: true, skipEncoding: true });
  const messageId = messageIdFactory(from);
  return {
    transport: 'log',
    async send(m, jobLog = log) {
      if (!jobLog.isLevelEnabled('info')) return { messageId: messageId() };
      const info = await transporter.sendMail(compose(m));
      jobLog.info({ email: info.message as unknown, messageId: info.messageId }, 'email (log transport; set SMTP_URL to send)');
      return { messageId: info.messageId };
    },
    close: () => transporter.close(),
  };
}
