CREATE SCHEMA "recommendation";
--> statement-breakpoint
CREATE TABLE "recommendation"."co_purchases" (
	"product_id" text NOT NULL,
	"other_product_id" text NOT NULL,
	"weight" integer NOT NULL,
	CONSTRAINT "co_purchases_product_id_other_product_id_pk" PRIMARY KEY("product_id","other_product_id"),
	CONSTRAINT "co_purchases_weight_positive" CHECK (weight > 0),
	CONSTRAINT "co_purchases_distinct_products" CHECK (product_id <> other_product_id)
);
--> statement-breakpoint
CREATE TABLE "recommendation"."customer_purchases" (
	"customer_id" text NOT NULL,
	"product_id" text NOT NULL,
	"quantity" integer NOT NULL,
	CONSTRAINT "customer_purchases_customer_id_product_id_pk" PRIMARY KEY("customer_id","product_id"),
	CONSTRAINT "customer_purchases_quantity_positive" CHECK (quantity > 0)
);
