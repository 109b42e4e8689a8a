import { money, moneyResolvers } from '../../platform/money';
import type { Resolvers } from './generated/resolvers-types';
import type { OrderModel } from './mappers';
import { lineTotal } from './pricing';

/** Thin: read arguments and context, call the order service. */
export const resolvers: Resolvers = {
  Money: moneyResolvers.Money,
  Query: {
    order: (_root, { id }, { orders, viewer, loaders }) => orders.order(viewer, id, loaders),
    deadLetters: (_root, { first }, { deadLetters, viewer }) => deadLetters.list(viewer, first),
  },
  Mutation: {
    addToCart: (_root, { input }, ctx) => ctx.orders.addToCart(ctx, input),
    updateCartLine: (_root, { input }, ctx) => ctx.orders.updateCartLine(ctx, input),
    placeOrder: (_root, { input }, ctx) => ctx.orders.placeOrder(ctx, input),
    shipOrder: (_root, { id }, ctx) => ctx.orders.shipOrder(ctx, id),
    deliverOrder: (_root, { id }, ctx) => ctx.orders.deliverOrder(ctx, id),
    cancelOrder: (_root, { id }, ctx) => ctx.orders.cancelOrder(ctx, id),
    refundOrder: (_root, { id }, ctx) => ctx.orders.refundOrder(ctx, id),
  },
  Subscription: {
    orderUpdated: {
      subscribe: (_root, { orderId }, { orders, viewer }) => orders.watchOrder(viewer, orderId),
      resolve: (order: OrderModel) => order,
    },
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
  CartLine: {
    product: (line) => ({ id: line.productId }),
  },
  Customer: {
    __resolveReference: (ref) => ({ id: ref.id }),
    orders: ({ id }, { first }, { orders, viewer, loaders }) => orders.customerOrders(viewer, id, first, loaders),
    cart: ({ id }, _args, { orders, viewer, loaders }) => orders.cart(viewer, id, loaders),
  },
};
