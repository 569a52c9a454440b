/**
 * The payment seam of a checkout. A provider is asked once per checkout, inside the checkout's transaction, after
 * every slot is claimed (so a refused checkout asks nobody). Only `invoice` exists: it charges nothing and records
 * a reference the invoice will carry. A card provider plugs in here (add its method to PAYMENT_METHODS and an entry
 * to `paymentProviders`): it must pass `idempotencyKey` (the command id) to its API, so a command retried after a
 * transient fault, or redelivered, never pays twice, and it should only authorize here (capture after commit), so
 * a transaction that rolls back leaves nothing but an authorization that lapses.
 */
import { DomainError } from '../domain/errors.js';

export const PAYMENT_METHODS = ['invoice'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];
export const DEFAULT_PAYMENT_METHOD: PaymentMethod = 'invoice';

export interface PaymentRequest {
  /** The checkout command's id: the provider's idempotency key. */
  idempotencyKey: string;
  checkoutId: string;
  userId: string;
  /** Integer minor units. */
  amount: number;
  currency: string;
}

export interface PaymentOutcome {
  /** What the provider calls this payment (invoice number, payment intent id …). */
  reference: string;
  /** `invoiced`: payable later; a card provider would answer `authorized`. */
  status: 'invoiced' | 'authorized';
}

export interface PaymentProvider {
  readonly method: PaymentMethod;
  /** Throws DomainError('payment_failed', …) when the payment is refused; anything else thrown is retried. */
  pay(request: PaymentRequest): Promise<PaymentOutcome>;
}

/** Pay later by invoice: no money moves now. The reference is derived from the checkout, so it is stable. */
export const invoiceProvider: PaymentProvider = {
  method: 'invoice',
  async pay(request) {
    return { reference: `INV-${request.checkoutId.replace(/-/g, '').slice(0, 12).toUpperCase()}`, status: 'invoiced' };
  },
};

export const paymentProviders: Record<PaymentMethod, PaymentProvider> = {
  invoice: invoiceProvider,
};

export function paymentProvider(method: string): PaymentProvider {
  const provider = (paymentProviders as Record<string, PaymentProvider | undefined>)[method];
  if (!provider) throw new DomainError('payment_failed', `Payment method ${method} is not available`, { paymentMethod: method });
  return provider;
}
