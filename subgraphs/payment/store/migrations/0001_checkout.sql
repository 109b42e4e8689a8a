CREATE TABLE "payment"."order_closures" (
	"order_id" text PRIMARY KEY NOT NULL,
	"reason" text NOT NULL,
	"closed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "order_closures_reason_known" CHECK (reason in ('CANCELLED', 'REJECTED'))
);
--> statement-breakpoint
CREATE TABLE "payment"."outbox" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"aggregate_id" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"payload" jsonb NOT NULL,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "payment"."payment_intents" (
	"order_id" text PRIMARY KEY NOT NULL,
	"customer_id" text NOT NULL,
	"amount" integer NOT NULL,
	"currency" char(3) NOT NULL,
	"token" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payment_intents_amount_non_negative" CHECK (amount >= 0),
	CONSTRAINT "payment_intents_currency_iso" CHECK (currency ~ '^[A-Z]{3}$')
);
--> statement-breakpoint
CREATE TABLE "payment"."processed_messages" (
	"consumer" text NOT NULL,
	"message_id" text NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processed_messages_consumer_message_id_pk" PRIMARY KEY("consumer","message_id")
);
--> statement-breakpoint
ALTER TABLE "payment"."payments" DROP CONSTRAINT "payments_status_known";--> statement-breakpoint
ALTER TABLE "payment"."payments" ALTER COLUMN "method_brand" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payment"."payments" ALTER COLUMN "method_last4" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payment"."payments" ADD COLUMN "failure_code" text;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "payment"."outbox" USING btree ("created_at") WHERE published_at is null;--> statement-breakpoint
ALTER TABLE "payment"."payments" ADD CONSTRAINT "payments_method_when_authorized" CHECK (status in ('DECLINED', 'FAILED') or (method_brand is not null and method_last4 is not null));--> statement-breakpoint
ALTER TABLE "payment"."payments" ADD CONSTRAINT "payments_failure_code_when_failed" CHECK (failure_code is null or status in ('DECLINED', 'FAILED'));--> statement-breakpoint
ALTER TABLE "payment"."payments" ADD CONSTRAINT "payments_status_known" CHECK (status in ('AUTHORIZED', 'CAPTURED', 'DECLINED', 'FAILED', 'VOIDED', 'REFUNDED'));