CREATE SCHEMA "card_processor";
--> statement-breakpoint
CREATE TABLE "card_processor"."charges" (
	"reference" text PRIMARY KEY NOT NULL,
	"currency" char(3) NOT NULL,
	"authorized" integer NOT NULL,
	"captured" integer DEFAULT 0 NOT NULL,
	"refunded" integer DEFAULT 0 NOT NULL,
	"voided" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "charges_captured_within_authorized" CHECK (captured >= 0 and captured <= authorized),
	CONSTRAINT "charges_refunded_within_captured" CHECK (refunded >= 0 and refunded <= captured),
	CONSTRAINT "charges_voided_uncaptured" CHECK (not voided or captured = 0)
);
--> statement-breakpoint
CREATE TABLE "card_processor"."ledger" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "card_processor"."ledger_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"operation" text NOT NULL,
	"outcome" text NOT NULL,
	"reference" text,
	"amount" integer,
	"currency" char(3),
	"idempotency_key" text NOT NULL,
	"decline_code" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_operation_known" CHECK (operation in ('authorize', 'capture', 'void', 'refund')),
	CONSTRAINT "ledger_outcome_known" CHECK (outcome in ('approved', 'declined'))
);
--> statement-breakpoint
CREATE TABLE "card_processor"."requests" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"fingerprint" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"answer" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"answered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "ledger_idempotency_key_idx" ON "card_processor"."ledger" USING btree ("idempotency_key");