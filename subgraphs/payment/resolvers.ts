import { money, moneyResolvers } from '../../platform/money';
import type { Resolvers } from './generated/resolvers-types';

/** Thin: read arguments and context, call the payment service. */
export const resolvers: Resolvers = {
  Payment: {
    __resolveReference: (ref, { payments, viewer, loaders }) => payments.payment(viewer, ref.id, loaders),
    amount: (payment) => money(payment.amount, payment.currency),
    method: (payment) => ({ brand: payment.methodBrand, last4: payment.methodLast4 }),
    createdAt: (payment) => payment.createdAt.toISOString(),
  },
  Order: {
    __resolveReference: (ref) => ({ id: ref.id }),
    payment: ({ id }, _args, { payments, viewer, loaders }) => payments.paymentForOrder(viewer, id, loaders),
  },
  Money: moneyResolvers.Money,
};
