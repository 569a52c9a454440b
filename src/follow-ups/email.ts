import { createTransport } from 'nodemailer';
import type { AppConfig } from '../config.js';
import type { Logger } from '../logger.js';

/** A rendered email, ready for a transport. */
export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Extra headers, e.g. the event id, so a recipient's system can correlate. */
  headers?: Record<string, string>;
}

/** The email channel: one `send`, whatever the transport. Tests wrap or replace it. */
export interface EmailChannel {
  readonly transport: 'smtp' | 'log';
  send(message: EmailMessage): Promise<{ messageId: string }>;
  close(): void;
}

/** Header values must stay on one line (a name or reason may carry a newline). */
const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, ' ').trim();

/**
 * Nodemailer, chosen by env: SMTP when `SMTP_URL` is set (production), otherwise the JSON transport, whose
 * rendered message (envelope, subject, text and HTML parts) is written to the log instead of being sent.
 */
export function createEmailChannel(config: Pick<AppConfig, 'followUps'>, logger: Logger): EmailChannel {
  const { smtpUrl, from } = config.followUps.email;
  const log = logger.child({ part: 'email' });
  const compose = (m: EmailMessage) => ({
    from,
    to: m.to,
    subject: oneLine(m.subject),
    text: m.text,
    html: m.html,
    ...(m.headers ? { headers: m.headers } : {}),
  });

  if (smtpUrl) {
    // Timeouts well inside the email claim's lease (src/follow-ups/email-send.ts), so a hung server fails the attempt.
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

  const transporter = createTransport({ jsonTransport: true });
  return {
    transport: 'log',
    async send(m) {
      const info = await transporter.sendMail(compose(m));
      log.info({ email: JSON.parse(info.message) as unknown, messageId: info.messageId }, 'email (log transport; set SMTP_URL to send)');
      return { messageId: info.messageId };
    },
    close: () => transporter.close(),
  };
}
