/** The README's query over all six subgraphs: a signed-in customer's page. */
export const SHOP_QUERY = `{
  me {
    name
    recommendations(first: 3) { name price { formatted } }
    orders(first: 2) {
      id status placedAt total { formatted }
      payment { status method { brand last4 } }
      lines {
        quantity lineTotal { formatted }
        product { name brand { name } availableQuantity recommendations(first: 2) { name } }
      }
    }
  }
}`;
