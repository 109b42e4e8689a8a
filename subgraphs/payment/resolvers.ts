import { money, moneyResolvers } from '../../platform/money';
import type { Resolvers } from './generated/resolvers-types';
import { capturedAmountOf, refundedAmountOf } from './payments';

/** Thin: read arguments and context, call the payment service. */
export const resolvers: Resolvers = {
  Query: {
    paymentsNeedingAttention: (_root, { first }, { payments, viewer }) => payments.paymentsNeedingAttention(viewer, first),
  },
  Mutation: {
    retryPayment: (_root, { id }, { payments, viewer }) => payments.retryPayment(viewer, id),
    voidPayment: (_root, { id }, { payments, viewer }) => payments.voidPayment(viewer, id),
  },
  Payment: {
    __resolveReference: (ref, { payments, viewer, loaders }) => payments.payment(viewer, ref.id, loaders),
    amount: (payment) => money(payment.amount, payment.currency),
    capturedAmount: (payment) => capturedAmountOf(payment),
    refundedAmount: (payment) => refundedAmountOf(payment),
    method: (payment) =>
      payment.methodBrand && payment.methodLast4 ? { brand: payment.methodBrand, last4: payment.methodLast4 } : null,
    createdAt: (payment) => payment.createdAt.toISOString(),
    updatedAt: (payment) => payment.updatedAt.toISOString(),
  },
  Order: {
    __resolveReference: (ref) => ({ id: ref.id }),
    payment: ({ id }, _args, { payments, viewer, loaders }) => payments.paymentForOrder(viewer, id, loaders),
  },
  Money: moneyResolvers.Money,
};
