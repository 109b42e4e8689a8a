CREATE SCHEMA "orders";
--> statement-breakpoint
CREATE TABLE "orders"."order_lines" (
	"order_id" text NOT NULL,
	"line_no" integer NOT NULL,
	"product_id" text NOT NULL,
	"quantity" integer NOT NULL,
	"unit_price_amount" integer NOT NULL,
	CONSTRAINT "order_lines_order_id_line_no_pk" PRIMARY KEY("order_id","line_no"),
	CONSTRAINT "order_lines_line_no_positive" CHECK (line_no >= 1),
	CONSTRAINT "order_lines_quantity_range" CHECK (quantity between 1 and 99),
	CONSTRAINT "order_lines_unit_price_non_negative" CHECK (unit_price_amount >= 0)
);
--> statement-breakpoint
CREATE TABLE "orders"."orders" (
	"id" text PRIMARY KEY NOT NULL,
	"customer_id" text NOT NULL,
	"status" text NOT NULL,
	"currency" char(3) NOT NULL,
	"total_amount" integer NOT NULL,
	"shipping_address" jsonb,
	"placed_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "orders_total_amount_non_negative" CHECK (total_amount >= 0),
	CONSTRAINT "orders_status_known" CHECK (status in ('PENDING', 'CONFIRMED', 'REJECTED', 'PAYMENT_FAILED', 'CANCELLED', 'SHIPPED', 'DELIVERED', 'REFUNDED'))
);
--> statement-breakpoint
ALTER TABLE "orders"."order_lines" ADD CONSTRAINT "order_lines_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "orders"."orders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "orders_customer_placed_idx" ON "orders"."orders" USING btree ("customer_id","placed_at" DESC NULLS LAST,"id" DESC NULLS LAST);