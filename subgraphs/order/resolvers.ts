import { money, moneyResolvers } from '../../platform/money';
import type { Resolvers } from './generated/resolvers-types';
import { lineTotal } from './pricing';

/** Thin: read arguments and context, call the order service. */
export const resolvers: Resolvers = {
  Money: moneyResolvers.Money,
  Query: {
    order: (_root, { id }, { orders, viewer, loaders }) => orders.order(viewer, id, loaders),
  },
  Order: {
    __resolveReference: (ref, { orders, viewer, loaders }) => orders.order(viewer, ref.id, loaders),
    lines: (order, _args, { orders, loaders }) => orders.linesOf(order, loaders),
    total: (order) => money(order.totalAmount, order.currency),
    placedAt: (order) => order.placedAt.toISOString(),
    customer: (order) => ({ id: order.customerId }),
  },
  OrderLine: {
    product: (line) => ({ id: line.productId }),
    unitPrice: (line) => money(line.unitPriceAmount, line.currency),
    lineTotal: (line) => lineTotal(money(line.unitPriceAmount, line.currency), line.quantity),
  },
  Customer: {
    __resolveReference: (ref) => ({ id: ref.id }),
    orders: ({ id }, { first }, { orders, viewer, loaders }) => orders.customerOrders(viewer, id, first, loaders),
  },
};
