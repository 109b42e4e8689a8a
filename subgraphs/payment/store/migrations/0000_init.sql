CREATE SCHEMA "payment";
--> statement-breakpoint
CREATE TABLE "payment"."payments" (
	"id" text PRIMARY KEY NOT NULL,
	"order_id" text NOT NULL,
	"customer_id" text NOT NULL,
	"status" text NOT NULL,
	"amount" integer NOT NULL,
	"captured_amount" integer DEFAULT 0 NOT NULL,
	"refunded_amount" integer DEFAULT 0 NOT NULL,
	"currency" char(3) NOT NULL,
	"method_brand" text NOT NULL,
	"method_last4" char(4) NOT NULL,
	"provider_reference" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payments_order_id_unique" UNIQUE("order_id"),
	CONSTRAINT "payments_status_known" CHECK (status in ('AUTHORIZED', 'CAPTURED', 'DECLINED', 'VOIDED', 'REFUNDED')),
	CONSTRAINT "payments_amount_non_negative" CHECK (amount >= 0),
	CONSTRAINT "payments_captured_non_negative" CHECK (captured_amount >= 0),
	CONSTRAINT "payments_captured_within_amount" CHECK (captured_amount <= amount),
	CONSTRAINT "payments_refunded_non_negative" CHECK (refunded_amount >= 0),
	CONSTRAINT "payments_refunded_within_captured" CHECK (refunded_amount <= captured_amount),
	CONSTRAINT "payments_currency_iso" CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT "payments_last4_digits" CHECK (method_last4 ~ '^[0-9]{4}$')
);
--> statement-breakpoint
CREATE INDEX "payments_customer_idx" ON "payment"."payments" USING btree ("customer_id");