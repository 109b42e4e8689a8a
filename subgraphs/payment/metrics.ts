import { Counter, Gauge } from 'prom-client';
import { metricsRegistry } from '../../platform/metrics';
import type { PaymentStatus } from './store/port';

/** The statuses of payments whose money the processor would not move: an admin retries or voids them. */
export const NEEDS_ATTENTION: readonly PaymentStatus[] = ['CAPTURE_FAILED', 'VOID_FAILED', 'REFUND_FAILED'];

export const paymentSettlementFailures = new Counter({
  name: 'shop_payment_settlement_failures_total',
  help: 'Captures, voids and refunds the processor refused or could not do through the retries, by operation and processor code.',
  labelNames: ['operation', 'code'] as const,
  registers: [metricsRegistry],
});

let countNeedingAttention: (() => Promise<Record<string, number>>) | undefined;

/** Payments waiting for an admin, by status, read from the payment store when metrics are scraped. */
export const paymentsNeedingAttention = new Gauge({
  name: 'shop_payments_needing_attention',
  help: 'Payments whose capture, void or refund failed and that no admin has settled yet, by status.',
  labelNames: ['status'] as const,
  registers: [metricsRegistry],
  async collect() {
    if (!countNeedingAttention) return;
    const counts = await countNeedingAttention().catch(() => undefined);
    if (!counts) return;
    for (const status of NEEDS_ATTENTION) this.set({ status }, counts[status] ?? 0);
  },
});

/** Where the gauge reads its counts: the process's payment store. */
export function countPaymentsNeedingAttentionWith(count: () => Promise<Record<string, number>>): void {
  countNeedingAttention = count;
}
